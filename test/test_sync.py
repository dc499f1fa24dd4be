"""ImageJoin: an image meets its mask and its people by stamp, causally, and never stalls on missing people."""
from onlinehmr_ros.core.fusion.sync import ImageJoin

WAIT = 100


def test_image_waits_for_mask_and_people_in_any_order():
    j = ImageJoin(WAIT)
    assert j.add_humans(10, 'h10') == []
    assert j.add_image(10, 'i10') == []
    assert j.add_mask(10, 'm10') == [(10, 'i10', 'm10', 'h10')]
    assert j.add_mask(20, 'm20') == [] and j.add_image(20, 'i20') == []
    assert j.add_humans(20, 'h20') == [(20, 'i20', 'm20', 'h20')]


def test_people_that_never_come_do_not_stall_the_image():
    j = ImageJoin(WAIT)
    j.add_image(10, 'i10')
    assert j.add_mask(10, 'm10') == []                        # waiting for the people of image 10
    j.add_image(200, 'i200')
    # image 200's mask moves stamp time past 10 + WAIT: image 10 goes on without people
    assert j.add_mask(200, 'm200') == [(10, 'i10', 'm10', None)]
    assert j.images_without_humans == 1
    assert j.add_humans(200, 'h200') == [(200, 'i200', 'm200', 'h200')]


def test_an_image_without_its_mask_is_dropped_and_counted():
    j = ImageJoin(WAIT, use_humans=False)
    assert j.add_image(10, 'i10') == []
    assert j.add_image(300, 'i300') == []                     # mask of 10 never came
    assert j.add_mask(300, 'm300') == [(300, 'i300', 'm300', None)]
    assert j.images_without_mask == 1


def test_without_mask_and_people_every_image_goes_through_at_once():
    j = ImageJoin(WAIT, use_mask=False, use_humans=False)
    assert j.add_image(5, 'i5') == [(5, 'i5', None, None)]
    assert j.add_mask(5, 'm5') == [] and j.add_humans(5, 'h5') == []


def test_memory_is_bounded():
    j = ImageJoin(10**12, max_queue=4)
    for s in range(100):
        j.add_image(s, s)
    assert j.images_without_mask == 96                        # the oldest went first
    assert j.add_mask(99, 'm') == [] and j.add_humans(99, 'h') == [(99, 99, 'm', 'h')]
