"""Camera-space human mesh recovery (OnlineHMR branch 1): perception, people tracking, fitting, learned HMR."""
