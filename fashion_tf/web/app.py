"""The try-it page: upload a photo (or pick a demo street photo) and see what the served
model says -- predicted labels, similar catalog items with their pictures and scores,
complete-the-look rows per category and "for you" items for a demo user's cart.

A Starlette app (a small, maintained ASGI toolkit; uvicorn serves it) with one static
page and a JSON API. It talks to the model server over TF Serving's REST API
(:class:`fashion_tf_client.rest.RestClient`), reads the served models' metadata, and
offers a section only where its signature is served: ``serving_default`` (labels),
``similar``, ``complete_the_look``, ``personalize``. Several ``--model`` names may be
given (for example the image model and a style model): each signature is taken from the
first model that serves it. The catalog directory gives the item pictures, the demo
street photos and the demo users' carts; without one the page shows item ids only.
"""
from __future__ import annotations

import contextlib
import urllib.parse
from pathlib import Path

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fashion_tf_client.errors import InvalidArgumentError, ServingError
from fashion_tf_client.rest import RestClient

STATIC = Path(__file__).resolve().parent / "static"
SECTIONS = {"labels": "serving_default", "similar": "similar", "complete_the_look": "complete_the_look",
            "for_you": "personalize"}
# Leading bytes of the image formats the served graphs decode (tf.io.decode_image).
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ShopCatalog:
    """Item pictures, demo street photos and demo carts from a catalog directory."""

    def __init__(self, directory: str | Path | None, photos: int = 8, users: int = 8):
        self.root = Path(directory) if directory else None
        self.items, self.queries, self.carts = {}, [], {}
        if self.root is None:
            return
        from fashion_tf.data.catalog import load_catalog

        catalog = load_catalog(self.root)
        for row in catalog.items.itertuples():
            self.items.setdefault(str(row.item_id), {"image": catalog.path(row.image), "title": str(row.title),
                                                     "category": str(row.category)})
        if catalog.queries is not None:
            self.queries = [catalog.path(p) for p in catalog.queries["image"].head(photos)]
        if catalog.interactions is not None:
            for user, rows in list(catalog.interactions.groupby("user_id", sort=True))[:users]:
                self.carts[str(user)] = [(str(i), float(r)) for i, r in zip(rows["item_id"], rows["rating"])]

    def describe(self, item_id: str, score: float | None = None) -> dict:
        item = self.items.get(item_id)
        entry = {"item_id": item_id, "title": item["title"] if item else "", "category": item["category"] if item else "",
                 "image_url": f"/api/items/{item_id}/image" if item else None}
        if score is not None:
            entry["score"] = round(float(score), 4)
        return entry


def is_image(data: bytes) -> bool:
    return data.startswith(_IMAGE_MAGIC)


class Recommender:
    """The page's calls to the model server(s), by signature."""

    def __init__(self, rest_url: str, models: list[str], catalog: ShopCatalog, k: int = 8, timeout: float = 30.0):
        self.clients = [RestClient(rest_url, model, timeout) for model in models]
        self.rest_url, self.catalog, self.k = rest_url, catalog, k

    def served(self) -> dict[str, RestClient]:
        """{signature: the client of the first model serving it}, fresh from the metadata."""
        found: dict[str, RestClient] = {}
        for client in self.clients:
            for name in client.signatures():
                found.setdefault(name, client)
        return found

    def config(self) -> dict:
        served = self.served()
        return {"models": [c.model for c in self.clients], "k": self.k,
                "sections": {section: signature in served for section, signature in SECTIONS.items()},
                "demo_photos": [f"/api/demo/{i}" for i in range(len(self.catalog.queries))],
                "users": [{"user_id": user, "cart": [self.catalog.describe(i) for i, _ in cart]}
                          for user, cart in self.catalog.carts.items()] if "personalize" in served else []}

    def recommend(self, image: bytes) -> dict:
        served, photo = self.served(), RestClient.b64(image)
        result: dict = {}
        if "serving_default" in served:
            out = served["serving_default"].predict({"images": [photo]})
            probs = sorted(out["label_probs"][0], reverse=True) if "label_probs" in out else []
            result["labels"] = [{"label": label, "probability": round(float(p), 4)}
                                for label, p in zip(out.get("top_labels", [[]])[0], probs)]
        if "similar" in served:
            out = served["similar"].predict({"images": [photo], "k": self.k}, "similar")
            result["similar"] = [self.catalog.describe(i, s) for i, s in zip(out["item_ids"][0], out["scores"][0])]
        if "complete_the_look" in served:
            out = served["complete_the_look"].predict({"images": [photo], "k": 3, "category": ""}, "complete_the_look")
            result["complete_the_look"] = [
                {"category": category, "items": [self.catalog.describe(i, s) for i, s in zip(ids, scores)]}
                for category, ids, scores in zip(out["categories"], out["item_ids"], out["scores"])]
        return result

    def for_you(self, user_id: str) -> dict:
        served = self.served()
        if "personalize" not in served:
            raise InvalidArgumentError("the served models have no personalize signature")
        cart = self.catalog.carts.get(user_id)
        if not cart:
            raise InvalidArgumentError(f"unknown demo user {user_id!r}")
        out = served["personalize"].predict({"item_ids": [i for i, _ in cart], "ratings": [r for _, r in cart],
                                             "k": self.k}, "personalize")
        return {"user_id": user_id, "cart": [self.catalog.describe(i) for i, _ in cart],
                "items": [self.catalog.describe(i, s) for i, s in zip(out["item_ids"], out["scores"])]}


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(recommender: Recommender) -> Starlette:
    catalog = recommender.catalog

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def config(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(recommender.config))
        except ServingError as error:
            return _error(f"The model server at {recommender.rest_url} did not answer: {error.details}", 503)

    async def recommend(request: Request) -> Response:
        name = urllib.parse.unquote(request.headers.get("x-filename", "")) or "the upload"
        image = await request.body()
        if not image:
            return _error(f"“{name}” is empty: choose a photo (JPEG, PNG, GIF or BMP).", 400)
        if len(image) > MAX_UPLOAD_BYTES:
            return _error(f"“{name}” is larger than {MAX_UPLOAD_BYTES // 2**20} MB: choose a smaller photo.", 400)
        if not is_image(image):
            return _error(f"“{name}” is not an image. Choose a photo (JPEG, PNG, GIF or BMP).", 400)
        try:
            return JSONResponse(await run_in_threadpool(recommender.recommend, image))
        except InvalidArgumentError as error:
            return _error(f"The model could not use “{name}”: {error.details}", 400)
        except ServingError as error:
            return _error(f"The model server did not answer: {error.details}", 503)

    async def for_you(request: Request) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(recommender.for_you, request.path_params["user_id"]))
        except InvalidArgumentError as error:
            return _error(error.details, 400)
        except ServingError as error:
            return _error(f"The model server did not answer: {error.details}", 503)

    async def demo_photo(request: Request) -> Response:
        index = request.path_params["index"]
        if index >= len(catalog.queries):
            return _error(f"no demo photo {index}", 404)
        return FileResponse(catalog.queries[index])

    async def item_image(request: Request) -> Response:
        item = catalog.items.get(request.path_params["item_id"])
        if item is None:
            return _error(f"no catalog item {request.path_params['item_id']!r}", 404)
        return FileResponse(item["image"], headers={"Cache-Control": "max-age=3600"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        anyio.to_thread.current_default_thread_limiter().total_tokens = 16
        yield

    return Starlette(routes=[
        Route("/", index),
        Route("/api/config", config),
        Route("/api/recommend", recommend, methods=["POST"]),
        Route("/api/for_you/{user_id}", for_you, methods=["POST"]),
        Route("/api/demo/{index:int}", demo_photo),
        Route("/api/items/{item_id}/image", item_image),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ], lifespan=lifespan)
