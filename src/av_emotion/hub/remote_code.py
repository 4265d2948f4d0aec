"""Self-contained model code for `trust_remote_code=True`, for people who do not have av_emotion installed.

`transformers` can load a model whose repository carries its own Python code: `config.json` gets an
`auto_map` (`{"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel", ...}`) and the
named files sit next to the weights. The library's own mechanism for writing them,
`register_for_auto_class()` followed by `save_pretrained()`, copies the file that defines each class and the
files it imports *relatively*, and nothing else. Our modeling files import the rest of the package
absolutely (`from av_emotion.modeling.outputs import AVEmotionOutput`), so the copied files would still need
`av_emotion` (transformers stops with "requires the following packages ...: av_emotion"), and
`register_for_auto_class` only accepts Auto class names that exist in `transformers`, not
`AutoModelForAudioVideoClassification`.

This module builds the bundle that does work standalone: it follows every `av_emotion` import of the config
and model modules (absolute or relative, at any depth), copies each module once under its own file name
(`modeling_avt_ca.py`, `outputs.py`, `resnet.py`, ...), and rewrites those imports as flat relative imports
(`from .outputs import AVEmotionOutput`), which is the layout `transformers`' dynamic module loader resolves.
Third-party imports (torch, transformers, ...) stay as they are: the user needs those installed.

The `auto_map` it returns maps `AutoConfig`, `AutoModel` (the base model) and
`AutoModelForVideoClassification` (the head the checkpoint was saved with: `transformers` has no audio-video
or regression Auto class, so a regression head is reached through that name too, and returns
valence/arousal). With `include_processor=True` the bundle also carries the processor (`processor.py` and the
modules it imports: the video processor, the feature extractor, PyAV decoding, face cropping) and maps
`AutoProcessor`, `AutoVideoProcessor` and `AutoFeatureExtractor`; `processor_config_with_auto_map` writes those
entries into `processor_config.json` (top level, and in the nested video processor and feature extractor entries,
which is where `transformers` looks for each component). The processor's third-party dependencies (PyAV,
OpenCV, torchaudio) must then be installed, as av_emotion's own dependencies are.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "av_emotion"
# `transformers` Auto class names used as `auto_map` keys (they must exist in transformers.models.auto).
AUTO_CONFIG = "AutoConfig"
AUTO_BASE_MODEL = "AutoModel"
AUTO_HEAD_MODEL = "AutoModelForVideoClassification"
AUTO_PROCESSOR = "AutoProcessor"
AUTO_VIDEO_PROCESSOR = "AutoVideoProcessor"
AUTO_FEATURE_EXTRACTOR = "AutoFeatureExtractor"


@dataclass
class RemoteCodeBundle:
    """The files and `auto_map` that let `transformers` load a model without av_emotion installed.

    Attributes:
        files: File name (flat, e.g. `"modeling_avt_ca.py"`) -> source text with rewritten imports.
        auto_map: The `config.json` entry, Auto class name -> `"module.ClassName"`.
        modules: File name -> the av_emotion module it was copied from (`av_emotion.modeling.outputs`).
    """

    files: dict[str, str] = field(default_factory=dict)
    auto_map: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)

    @property
    def processor_auto_map(self) -> dict[str, str]:
        """The processor entries of `auto_map` (empty when the bundle has no processor)."""
        names = (AUTO_PROCESSOR, AUTO_VIDEO_PROCESSOR, AUTO_FEATURE_EXTRACTOR)
        return {name: reference for name, reference in self.auto_map.items() if name in names}


def _flat_name(module_name: str) -> str:
    return module_name.rsplit(".", 1)[-1]


def _is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")


def _resolve_module(node: ast.ImportFrom, module: ModuleType) -> str:
    """Absolute name of the module an `ImportFrom` node imports from (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    package = module.__name__ if _is_package(module) else module.__name__.rsplit(".", 1)[0]
    return importlib.util.resolve_name("." * node.level + (node.module or ""), package)


def _defining_module(source_name: str, imported: str, importer: str) -> str:
    """Return the module whose flat copy will provide `imported` (imported `from source_name` in `importer`)."""
    source = importlib.import_module(source_name)
    if _is_package(source) and importlib.util.find_spec(f"{source_name}.{imported}") is not None:
        raise ValueError(
            f"{importer}: `from {source_name} import {imported}` imports a sub-module; the remote-code bundle "
            f"needs `from {source_name}.{imported} import <names>` instead"
        )
    if not _is_package(source):
        return source_name
    # A name re-exported by a package's __init__: copy the module that defines it.
    value = getattr(source, imported)
    defining = getattr(value, "__module__", None) if inspect.isclass(value) or inspect.isfunction(value) else None
    if not defining or not defining.startswith(f"{PACKAGE}."):
        raise ValueError(
            f"{importer}: cannot tell which module defines {imported!r} re-exported by the package {source_name}; "
            f"import it from its defining module"
        )
    return defining


def _rewrite_module(module_name: str) -> tuple[str, list[str]]:
    """Source of `module_name` with its av_emotion imports made flat-relative, and the modules it needs."""
    module = importlib.import_module(module_name)
    path = Path(module.__file__)
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source, filename=str(path))
    replacements: list[tuple[int, int, str]] = []  # (first line index, last line index, new text)
    needed: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(f"{PACKAGE}."):
                    raise ValueError(
                        f"{path}:{node.lineno}: `import {alias.name}` cannot be flattened for remote code; "
                        f"use `from {alias.name.rsplit('.', 1)[0]} import ...`"
                    )
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        source_name = _resolve_module(node, module)
        if source_name != PACKAGE and not source_name.startswith(f"{PACKAGE}."):
            continue
        groups: dict[str, list[str]] = {}
        for alias in node.names:
            if alias.name == "*":
                raise ValueError(f"{path}:{node.lineno}: star imports cannot be flattened for remote code")
            defining = _defining_module(source_name, alias.name, f"{path}:{node.lineno}")
            text = alias.name if alias.asname is None else f"{alias.name} as {alias.asname}"
            groups.setdefault(defining, []).append(text)
        first, last = node.lineno - 1, node.end_lineno - 1
        before = lines[first][: node.col_offset]
        after = lines[last][node.end_col_offset :]
        if before.strip() or after.strip().split("#", 1)[0].strip():
            raise ValueError(f"{path}:{node.lineno}: put this import on lines of its own to flatten it")
        comment = after.strip()
        new_lines = []
        for defining, names in groups.items():
            statement = f"{before}from .{_flat_name(defining)} import {', '.join(names)}"
            new_lines.append(statement + (f"  {comment}" if comment else "") + "\n")
            needed.append(defining)
        replacements.append((first, last, "".join(new_lines)))
    for first, last, text in sorted(replacements, reverse=True):
        lines[first : last + 1] = [text]
    header = (
        f"# Copied from {module_name} (av_emotion {_package_version()}) so that this repository loads with\n"
        "# `trust_remote_code=True` where av_emotion is not installed; its imports were made relative.\n"
        "# With av_emotion installed, the maintained classes are used instead and this file is not run.\n"
    )
    return header + "".join(lines), needed


def _package_version() -> str:
    package = sys.modules.get(PACKAGE)
    return getattr(package, "__version__", "unknown")


def build_remote_code(classes: dict[str, type]) -> RemoteCodeBundle:
    """Bundle the modules defining `classes` (Auto class name -> class) and everything they import from av_emotion.

    Raises `ValueError` when two modules would share a file name, or an import cannot be flattened.
    """
    bundle = RemoteCodeBundle()
    pending = [cls.__module__ for cls in classes.values()]
    seen: set[str] = set()
    while pending:
        module_name = pending.pop()
        if module_name in seen:
            continue
        seen.add(module_name)
        if not module_name.startswith(f"{PACKAGE}."):
            raise ValueError(f"{module_name} is not part of {PACKAGE}; only av_emotion classes can be bundled")
        file_name = f"{_flat_name(module_name)}.py"
        if file_name in bundle.modules and bundle.modules[file_name] != module_name:
            raise ValueError(
                f"remote code: {bundle.modules[file_name]} and {module_name} would both be written as {file_name}; "
                "rename one of the modules"
            )
        text, needed = _rewrite_module(module_name)
        bundle.files[file_name] = text
        bundle.modules[file_name] = module_name
        pending.extend(needed)
    for auto_name, cls in classes.items():
        bundle.auto_map[auto_name] = f"{_flat_name(cls.__module__)}.{cls.__name__}"
    return bundle


def model_classes_for(config: dict[str, Any]) -> dict[str, type]:
    """Return the Auto class name -> class map of a saved model, from its `config.json` content.

    Uses the architecture registry: `AutoConfig` -> the config class, `AutoModel` -> the base model, and
    `AutoModelForVideoClassification` -> the head named by `config["architectures"]` (when it is one of the
    architecture's heads).
    """
    from av_emotion.modeling import ARCHITECTURES

    model_type = config.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"model_type {model_type!r} is not a registered av_emotion architecture ({sorted(ARCHITECTURES)}); "
            "cannot bundle its code"
        )
    architecture = ARCHITECTURES[model_type]
    classes: dict[str, type] = {AUTO_CONFIG: architecture.config_class, AUTO_BASE_MODEL: architecture.model_class}
    heads = [architecture.classification_class, architecture.regression_class]
    saved = (config.get("architectures") or [None])[0]
    for head in heads:
        if head is not None and head.__name__ == saved:
            classes[AUTO_HEAD_MODEL] = head
    return classes


def processor_classes() -> dict[str, type]:
    """Return the Auto class name -> class map of av_emotion's processor and its two components."""
    from av_emotion.processing import AVEmotionFeatureExtractor, AVEmotionProcessor, AVEmotionVideoProcessor

    return {
        AUTO_PROCESSOR: AVEmotionProcessor,
        AUTO_VIDEO_PROCESSOR: AVEmotionVideoProcessor,
        AUTO_FEATURE_EXTRACTOR: AVEmotionFeatureExtractor,
    }


def remote_code_for_config(config: dict[str, Any], include_processor: bool = False) -> RemoteCodeBundle:
    """Return the standalone code bundle of the model described by `config.json` content `config`.

    `include_processor`: also bundle the processor classes (for a folder that has a `processor_config.json`).
    """
    classes = model_classes_for(config)
    if include_processor:
        classes.update(processor_classes())
    return build_remote_code(classes)


def processor_config_with_auto_map(processor_config: dict[str, Any], bundle: RemoteCodeBundle) -> dict[str, Any]:
    """Return `processor_config.json` content with the bundle's processor `auto_map` where transformers reads it.

    `AutoProcessor` reads the top-level entry; `ProcessorMixin` then loads each component with its own Auto
    class, which reads the `auto_map` of the component's nested entry.
    """
    auto_map = bundle.processor_auto_map
    if not auto_map:
        raise ValueError("the remote-code bundle has no processor; build it with include_processor=True")
    updated = {**processor_config, "auto_map": {**(processor_config.get("auto_map") or {}), **auto_map}}
    for key, auto_name in (("video_processor", AUTO_VIDEO_PROCESSOR), ("feature_extractor", AUTO_FEATURE_EXTRACTOR)):
        if isinstance(updated.get(key), dict):
            component = dict(updated[key])
            component["auto_map"] = {
                **(component.get("auto_map") or {}),
                auto_name: auto_map[auto_name],
                AUTO_PROCESSOR: auto_map[AUTO_PROCESSOR],
            }
            updated[key] = component
    return updated


__all__ = [
    "AUTO_BASE_MODEL",
    "AUTO_CONFIG",
    "AUTO_FEATURE_EXTRACTOR",
    "AUTO_HEAD_MODEL",
    "AUTO_PROCESSOR",
    "AUTO_VIDEO_PROCESSOR",
    "RemoteCodeBundle",
    "build_remote_code",
    "model_classes_for",
    "processor_classes",
    "processor_config_with_auto_map",
    "remote_code_for_config",
]
