"""``python -m fashion_tf_client``: see :mod:`fashion_tf_client.cli`."""
import sys

from fashion_tf_client.cli import main

sys.exit(main())
