"""The README stays true to the code: every fault type, param and metric family is documented."""

from __future__ import annotations

from pathlib import Path

from kubechaos.api.manifest import SUPPORTED_KINDS
from kubechaos.api.modelled import MODELLED_FIELDS, coverage_markdown
from kubechaos.cli import common, signals
from kubechaos.faults import CATALOGUE
from kubechaos.observe.metrics import FAMILIES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_fault_type_and_param_is_in_the_readme() -> None:
    for name, cls in CATALOGUE.items():
        row = next((line for line in README.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"README fault table lacks {name}"
        for p in cls.params():
            assert f"`{p.name}`" in row, f"README row for {name} lacks param {p.name}"


def test_every_metric_family_is_in_the_readme() -> None:
    for family in FAMILIES:
        assert family in README, f"README does not mention {family}"


def test_exit_codes_are_documented() -> None:
    defined = {v for k, v in vars(common).items() if k.startswith("EXIT_")}
    defined |= {v for k, v in vars(signals).items() if k.startswith("EXIT_")}
    assert defined >= {0, 1, 2, 3, 129, 130, 143}
    for code in sorted(defined):
        assert f"`{code}`" in README, f"README does not list exit code {code}"


def test_readme_shows_the_tested_plugin_example_and_the_ci_examples_verbatim() -> None:
    from .test_pytest_plugin import README_EXAMPLE

    root = Path(__file__).resolve().parent.parent
    assert README_EXAMPLE.rstrip() in README
    for example in ("examples/ci/sweep-workflow.yml", "examples/k8s/sweep-indexed-job.yaml"):
        assert (root / example).read_text(encoding="utf-8").rstrip() in README, example


def test_the_readme_lists_what_the_model_reads_from_a_manifest_as_the_code_does() -> None:
    """The kinds served and, field by field, what the model reads, ignores silently and warns
    about: the README's copy is the one kubechaos/api/modelled.py renders."""
    assert coverage_markdown() in README, "README's field list differs: paste coverage_markdown()"
    kinds = ", ".join(f"{kind} (`{version}`)" for kind, version in SUPPORTED_KINDS.items())
    assert f"served for these kinds:\n{kinds}." in README
    assert set(MODELLED_FIELDS) == set(SUPPORTED_KINDS)
