"""A pydantic model named by ``output_schema`` in tests (``tests.structured_models:Person``)."""

from __future__ import annotations

from pydantic import BaseModel


class Person(BaseModel):
    """A person, as a model is asked to answer."""

    name: str
    age: int
