"""World fusion (M_w = R(q) M_c + s t) and the stamp pairing any node uses to join its inputs."""
