"""Request and response models. The search request is derived from `search.options`, where each option
is declared once; the article model takes its limits from the readers, whose normalisation it reuses. The
read responses are the library's dataclasses themselves (`search.types`, `search.timeline`), never restated."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, TypeVar, get_origin

from fastapi import FastAPI, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, field_validator
from starlette.datastructures import QueryParams

from indexer.alerts.saved import Match
from indexer.sources.readers import MAX_ARTICLE_CHARS, MAX_ID_CHARS
from search.alerts import MAX_NAME_CHARS, MAX_SECRET_CHARS, Alert, SavedSearchSpec
from search.options import (
    MAX_K,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    Declared,
    Filters,
    SearchOptions,
    declared,
    from_wire,
)

EXAMPLE_QUERY = "Russia stance on DPRK sanctions"
EXAMPLE_ID = "ecb-1_10ecbplus"
QUERY_PATTERN = r"\S"  # something other than spaces


def no_surrogates(value: Any) -> Any:
    """The text with lone surrogates (valid JSON escapes, not valid Unicode) replaced by U+FFFD."""
    if isinstance(value, list):
        return [no_surrogates(v) for v in value]
    if not isinstance(value, str):
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


class _Query(BaseModel):
    """What every query-taking request has: the query, cleaned of lone surrogates like every text field."""

    q: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=QUERY_PATTERN, description="the query",
                   examples=[EXAMPLE_QUERY])

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return no_surrogates(value)


class _Request(_Query):
    """A search request: the query and the page."""

    k: int = Field(10, ge=1, le=MAX_K, description="results per page")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="results to skip (paging)")

    def call(self) -> tuple[str, int, int, Filters, SearchOptions]:
        """The library call this request stands for: (query, k, offset, filters, options)."""
        filters, options = from_wire(self.model_dump(exclude={"q", "k", "offset"}))
        return self.q, self.k, self.offset, filters, options


def _pydantic_field(d: Declared) -> tuple[Any, Any]:
    """(annotation, FieldInfo) of one declared option on the wire."""
    if d.is_list:
        item = Annotated[str, Field(max_length=d.max_length, pattern=d.pattern)]
        return list[item], Field(default_factory=list, max_length=d.max_items, description=d.help)
    if d.wire is not None:
        return d.wire | None, Field(None, description=d.help)
    if d.base is str and not d.choices:  # text: absent is None on the wire, '' in the library
        # The declaration's own check (a date on the calendar) before the pattern's, so that a 422 names the
        # parameter and says which part of the date does not exist.
        checked = Annotated[str | None, BeforeValidator(d.check)] if d.date else str | None
        return checked, Field(None, max_length=d.max_length, pattern=d.pattern, description=d.help)
    return d.type, Field(d.default, ge=d.ge, le=d.le, description=d.help)


def _search_model(name: str, extra: str) -> type[_Request]:
    options = {d.param: _pydantic_field(d) for cls in (Filters, SearchOptions) for d in declared(cls)}
    config = ConfigDict(extra=extra, json_schema_extra={"examples": [
        {"q": EXAMPLE_QUERY, "k": 5},
        {"q": "Lindsay Lohan rehab", "k": 3, "mode": "lexical", "since": "2013-01-01"},
    ]})
    base = type(f"_{name}Base", (_Request,), {"model_config": config, "__module__": __name__})
    return create_model(name, __base__=base, __module__=__name__, **options)


# POST /search refuses unknown fields; GET /search ignores unknown parameters (a cache-buster, say).
SearchRequest = _search_model("SearchRequest", "forbid")
SearchQuery = _search_model("SearchQuery", "ignore")

Model = TypeVar("Model", bound=BaseModel)


def from_query_string(model: type[Model], params: QueryParams) -> Model:
    """`model` read from a query string as FastAPI reads a query-parameter model (a list field takes every
    value of its parameter, any other field the last one), in one validation. FastAPI's own reading goes
    field by field in Python, a large share of a search request's handling on the event loop
    (benchmarks/README.md, "Query latency, second round"). A failure is FastAPI's 422, each error located in
    `query`."""
    lists = _list_fields(model)
    values = {key: params.getlist(key) if key in lists else params[key] for key in params}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("query", *error["loc"])}
                                      for error in exc.errors(include_url=False)]) from None


@cache
def _list_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, field in model.model_fields.items() if get_origin(field.annotation) is list)


@cache
def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI parameters FastAPI documents for `model` as query parameters: what an endpoint that reads
    it with `from_query_string` declares, so its documentation is the one FastAPI would write."""
    def documented(params) -> None:
        """Never called: only its OpenAPI description is read."""

    documented.__annotations__["params"] = Annotated[model, Query()]  # an object: this module's are strings
    app = FastAPI()
    app.get("/")(documented)
    return app.openapi()["paths"]["/"]["get"]["parameters"]



class _TimelineBase(_Query):
    interval: Literal["day", "week", "month"] = Field("day", description="bucket size")

    def call(self) -> tuple[str, str, Filters, SearchOptions]:  # type: ignore[override]
        filters, options = from_wire(self.model_dump(exclude={"q", "interval"}))
        return self.q, self.interval, filters, options


def _timeline_model() -> type[_TimelineBase]:
    """GET /timeline's parameters: the query, the interval, the filters and the time-word options."""
    wanted = [*declared(Filters), *(d for d in declared(SearchOptions) if d.name in ("time_words", "now"))]
    fields = {d.param: _pydantic_field(d) for d in wanted}
    base = type("_TimelineQueryBase", (_TimelineBase,), {"model_config": ConfigDict(extra="ignore"),
                                                          "__module__": __name__})
    return create_model("TimelineQuery", __base__=base, __module__=__name__, **fields)


TimelineQuery = _timeline_model()


ScalarValue = str | int | float | bool | None


class ArticleIn(BaseModel):
    """An article to upsert; `id` defaults to the canonical URL, else a hash of the content."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "example-1", "title": "Russia Vows to Develop Equal and Fair Interaction with North Korea",
        "text": "Russian Foreign Minister Sergei Lavrov has affirmed Moscow's commitment to relations with "
                "North Korea, despite the sanctions imposed on Pyongyang by the UN Security Council.",
        "url": "https://example.org/news/1", "source": "Example News", "published": "2023-09-01",
        "language": "en", "metadata": {"section": "world"}}]})

    id: str = Field("", max_length=MAX_ID_CHARS)
    title: str = Field("", max_length=2000)
    text: str = Field(min_length=1, max_length=MAX_ARTICLE_CHARS, pattern=QUERY_PATTERN, description="the body")
    url: str = Field("", max_length=4000)
    source: str = Field("", max_length=200)
    published: str = Field("", max_length=64, description="a date or datetime (ISO 8601 preferred); one that "
                           "cannot be read is kept as metadata.published_raw, one not on the calendar "
                           "(2013-02-30) refuses the request")
    language: str = Field("", max_length=20)
    metadata: dict[Annotated[str, Field(max_length=64)], ScalarValue] = Field(default_factory=dict, max_length=50)

    @field_validator("id", "title", "text", "url", "source", "published", "language", mode="before")
    @classmethod
    def _check_text(cls, value):
        return no_surrogates(value)

    @field_validator("metadata", mode="before")
    @classmethod
    def _check_metadata(cls, value):
        if not isinstance(value, dict):
            return value
        return {no_surrogates(k): no_surrogates(v) for k, v in value.items()}

    @field_validator("metadata")
    @classmethod
    def _check_metadata_size(cls, value: dict) -> dict:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 10_000:
                raise ValueError(f"metadata {key!r}: at most 10000 characters")
        return value


class WriteOut(BaseModel):
    indexed: int = Field(description="articles added or changed")
    unchanged: int = Field(description="articles already stored with the same content")
    passages: int
    ids: list[str] = Field(description="the stored id of each article, in the order sent")


class DeleteOut(BaseModel):
    id: str
    deleted: bool


class Detail(BaseModel):
    detail: Any


_ERRORS = {401: "no key sent", 403: "wrong key, or writes disabled", 404: "not found",
           409: "another writer holds the index; try again later", 413: "request body too large",
           422: "invalid input; `detail` names the field", 500: "internal error",
           503: "index not loaded or unavailable"}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes."""
    return {code: {"model": Detail, "description": _ERRORS[code]} for code in codes}


class _AlertBase(BaseModel):
    """A saved search: a query (or a story to follow) with the options and filters of a search."""

    q: str = Field("", max_length=MAX_QUERY_CHARS, description="the query; empty when following a story",
                   examples=["Lindsay Lohan checks into rehab"])
    name: str = Field("", max_length=MAX_NAME_CHARS, description="a name to show (default: the query)")
    story: int | None = Field(None, ge=0, le=2**62, description="follow this story instead of a query: fire when "
                              "a new article joins it (or the story it merged into)")
    webhook: str = Field("", max_length=2000, pattern=r"^(https?://\S+)?$",
                         description="POST each match here as JSON, signed with `secret`")
    secret: str = Field("", max_length=MAX_SECRET_CHARS, description="the HMAC-SHA256 key of the "
                        "X-Newsearch-Signature header (never shown back)")

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return no_surrogates(value)

    def spec(self) -> SavedSearchSpec:
        filters, options = from_wire(self.model_dump(exclude={"q", "name", "story", "webhook", "secret"}))
        return SavedSearchSpec(self.q, self.name, filters, options, self.story, self.webhook, self.secret)


def _alert_model() -> type[_AlertBase]:
    options = {d.param: _pydantic_field(d) for cls in (Filters, SearchOptions) for d in declared(cls)}
    config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"q": "Lindsay Lohan checks into rehab", "name": "Lohan"},
        {"q": "Russia stance on DPRK sanctions", "webhook": "https://example.org/hook", "secret": "s3cret",
         "group": "story"},
    ]})
    base = type("_AlertInBase", (_AlertBase,), {"model_config": config, "__module__": __name__})
    return create_model("AlertIn", __base__=base, __module__=__name__, **options)


AlertIn = _alert_model()


class AlertsOut(BaseModel):
    alerts: list[Alert]


class MatchesOut(BaseModel):
    alert: str
    matches: list[Match] = Field(description="newest first")
