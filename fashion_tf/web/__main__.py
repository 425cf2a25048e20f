"""``python -m fashion_tf.web [--rest URL] [--port 8080]``: the try-it page (:mod:`fashion_tf.web.app`)."""
from __future__ import annotations

import argparse
import sys

from fashion_tf.web.app import Recommender, ShopCatalog, create_app


def default_catalog():
    """The demo shop ``make demo`` made, when there is one."""
    from fashion_tf.data.demo_shop import DEFAULT_ITEMS, DEFAULT_USERS, default_shop_dir, is_complete

    params = {"items": DEFAULT_ITEMS, "users": DEFAULT_USERS, "seed": 0, "image_size": 128}
    shop = default_shop_dir(**params)
    return shop if is_complete(shop, **params) else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.web", description=__doc__.splitlines()[0])
    parser.add_argument("--rest", default="http://localhost:8501", help="the model server's REST API")
    parser.add_argument("--model", action="append", default=None,
                        help="served model name (repeat for a second model, e.g. a style model); default: fashion")
    parser.add_argument("--catalog", default=None, help="catalog directory for pictures, demo photos and users "
                                                        "(default: the demo shop, when make demo has made it)")
    parser.add_argument("--k", type=int, default=8, help="similar items to show")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    import uvicorn

    try:
        catalog = ShopCatalog(args.catalog or default_catalog())
    except (OSError, ValueError) as error:
        print(f"error: --catalog: {error}", file=sys.stderr)
        return 2
    recommender = Recommender(args.rest, args.model or ["fashion"], catalog, k=args.k)
    print(f"fashion_tf web page on http://{args.host}:{args.port}/ (model server {args.rest}, "
          f"models {', '.join(args.model or ['fashion'])}, {len(catalog.items)} catalog items)", flush=True)
    uvicorn.run(create_app(recommender), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
