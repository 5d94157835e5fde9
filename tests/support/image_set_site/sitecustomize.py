"""Read by Python at start-up in a command a test started with ``tests.support.image_set.image_set_environment``.

The switch's name is written here rather than imported: a worker, which does not keep the switch, then imports
nothing of the project at start-up."""

import os

blocks = os.environ.get("EDGE_TESTS_IMAGE_SET_ONLY")  # how many ABBA blocks the image set is cut to
if blocks:
    from contest import definitions
    from tests.support.image_set import image_set_contests

    definitions.CONTESTS = image_set_contests(int(blocks))
