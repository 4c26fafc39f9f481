"""What a provider declares beside its code is what the rest of runner reads (issue 25.5).

The settings block, its help lines, the price and usage mapping, the structured-output form
and the batch adapter live on the provider class; the schema, help, key check, pricing and
batch registry find them there (tests/test_provider_one_file.py does it end to end).
"""

from __future__ import annotations

import ast
import copyreg
import dataclasses
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

import runner
from runner.batch.registry import batch_apis
from runner.config import apis
from runner.config.help import settings
from runner.config.keys import check_override_keys
from runner.config.schema import RunConfig
from runner.errors import ConfigError
from runner.prompts import output_styles
from runner.prompts.output_check import sent_schema
from runner.prompts.output_schema import SchemaError, native_parameters
from runner.prompts.records import PromptRecord
from runner.providers import registry
from runner.providers.base import Completion, Provider, ProviderContext, provider_class
from runner.providers.gemini_files import upload_url

PROVIDERS = Path(runner.__file__).parent / "providers"


@dataclasses.dataclass
class _ToySettings:
    greeting: str = "hi"
    retries: int = 2


class _Toy(Provider):
    api = "toy-api"
    uses_http = False
    settings_class = _ToySettings
    settings_help = {"greeting": "what the toy says", "retries": "how often it tries"}
    structured_output = "ollama"

    async def complete(self, record: PromptRecord) -> Completion:  # pragma: no cover
        return Completion(self.settings().greeting)


@pytest.fixture
def toy() -> Iterator[type[Provider]]:
    registry.register(_Toy)
    yield _Toy
    registry._REGISTRY.pop(_Toy.api)
    apis._BLOCKS.pop("toy_api")
    output_styles._DECLARED.pop(_Toy.api)


def test_a_registered_provider_brings_its_block_its_help_and_its_form(
    toy: type[Provider],
) -> None:
    assert toy.settings_block == "toy_api"  # the api, "-" as "_"
    run = RunConfig()
    assert run.apis.toy_api == _ToySettings()
    lines = {s.key: (s.default, s.description) for s in settings()}
    assert lines["apis.toy_api.greeting"] == ("hi", "what the toy says")
    assert lines["apis.toy_api.retries"] == ("2", "how often it tries")
    check_override_keys(["apis.toy_api.retries=3"])
    with pytest.raises(ConfigError, match=r"did you mean apis\.toy_api\.greeting"):
        check_override_keys(["apis.toy_api.greting=x"])
    assert {"optional api@apis.toy_api": "toy_api"} in apis.defaults_node()["defaults"]
    schema = {"type": "object"}
    params = native_parameters("toy-api", schema)
    assert params == {"format": schema}
    assert sent_schema(PromptRecord({"api": "toy-api", "prompt": "p", "parameters": params}))
    assert toy(ProviderContext(RunConfig())).settings() == _ToySettings()


def test_every_built_in_block_is_declared_by_its_provider_with_a_line_per_field() -> None:
    blocks = apis.api_blocks()
    assert set(blocks) == {
        "anthropic",
        "azure_openai",
        "gemini",
        "huggingface_tgi",
        "local",
        "ollama",
        "openai",
        "vertexai",
    }
    for name, block in blocks.items():
        fields = {f.name for f in dataclasses.fields(block.settings)}
        assert fields == set(block.descriptions), name
        assert (PROVIDERS.parent.parent / "conf" / "api" / f"{name}.yaml").is_file(), name
    assert [f.name for f in dataclasses.fields(apis.apis_class())] == sorted(blocks)


def test_price_usage_and_batch_are_read_from_the_provider_class() -> None:
    assert registry.price_provider("azure-openai") == "azure"
    assert registry.price_provider("vertexai") == "google"
    assert registry.price_provider("huggingface-tgi") is None
    assert registry.is_free("ollama") and registry.is_free("local")
    assert not registry.is_free("openai") and not registry.is_free("no-such-api")
    assert registry.usage_provider("local") == "openai"
    adapters = registry.batch_adapters()
    assert set(adapters) == {"openai", "azure-openai", "anthropic", "gemini"}
    assert batch_apis() == frozenset(adapters)
    assert provider_class("gemini").batch_adapter == "runner.batch.gemini:GeminiBatches"


def test_an_api_without_a_declared_form_has_no_structured_output() -> None:
    with pytest.raises(SchemaError, match="has no structured output"):
        native_parameters("no-such-api", {"type": "object"})
    with pytest.raises(ValueError, match="none of"):
        output_styles.declare_output_style("x", "no-such-form")


def test_no_provider_module_reads_another_objects_private_name() -> None:
    """Not a provider's, not a library's (``SplitResult._replace``): only ``self``'s own."""
    found = []
    for path in sorted(PROVIDERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__"):
                continue
            owner = node.value
            own = isinstance(owner, ast.Name) and owner.id in {"self", "cls"}
            own = own or (
                isinstance(owner, ast.Call)
                and isinstance(owner.func, ast.Name)
                and owner.func.id == "super"
            )
            if not own:
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node)}")
    assert not found, found


def test_the_upload_url_keeps_the_base_urls_query() -> None:
    url = upload_url("https://proxy.test/gemini/v1beta?tenant=a")
    assert url == "https://proxy.test/upload/gemini/v1beta/files?tenant=a"


def test_config_asks_for_blocks_no_provider_declared_with_what_to_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """config never imports the providers itself: without them, it says what to import."""
    monkeypatch.setattr(apis, "_BLOCKS", {})
    with pytest.raises(RuntimeError, match=r"import runner\.providers before configuring"):
        apis.api_blocks()
    with pytest.raises(RuntimeError, match=r"import runner\.providers"):
        RunConfig()


def test_a_pickled_apis_schema_names_its_blocks_classes_not_a_name_config_must_resolve() -> None:
    """Unpickling (a sweep's worker, the remembered config) imports the providers' modules."""
    made = apis.apis_class()
    reduced = copyreg.dispatch_table[type(made)](made)
    assert isinstance(reduced, tuple)
    rebuild, (blocks,) = reduced[:2]
    assert rebuild is apis._apis_class
    assert dict(blocks) == {name: b.settings for name, b in apis.api_blocks().items()}
    assert {cls.__module__ for _, cls in blocks} <= {
        f"runner.providers.{path.stem}" for path in PROVIDERS.glob("*.py")
    }
    assert pickle.loads(pickle.dumps(made)) is made
    assert pickle.loads(pickle.dumps(apis.ApisConfig)) is apis.ApisConfig
    run = pickle.loads(pickle.dumps(RunConfig()))
    assert type(run.apis) is made and run.apis == RunConfig().apis
