"""Register av_emotion with `transformers` without importing torch until an Auto class or a pipeline is used.

`import av_emotion` must make `AutoConfig`, `AutoModel`, `AutoProcessor`, `AutoVideoProcessor`,
`AutoFeatureExtractor` and `pipeline("audio-video-emotion")` find this package's classes, yet stay about as
cheap as `import transformers` (which is lazy: its `_LazyModule` imports a sub-module on first attribute access).
The Auto classes themselves import torch, so registering eagerly would cost every `import av_emotion`, and every
`av-emotion --help`, several seconds.

So registration is deferred, in two steps:

1. `install()` (called by `av_emotion/__init__.py`) puts a post-import hook on the modules that hold
   transformers' registries: `configuration_auto` (`CONFIG_MAPPING`), `processing_auto`, `video_processing_auto`,
   `feature_extraction_auto` (the processor mappings) and `transformers.pipelines` (`PIPELINE_REGISTRY`). A
   registry already imported is handled at once.
2. Right after such a module has run, its hook gives the registry a *deferred* entry: `CONFIG_MAPPING` learns
   our `model_type` names without their classes; the processor mappings learn that more entries exist; the
   pipeline registry gets a placeholder task. Nothing of av_emotion is imported then. The first lookup that
   needs one of these entries (`AutoConfig.from_pretrained` meeting `"model_type": "avt_ca"`, `AutoProcessor`
   searching its classes by name, `pipeline("audio-video-emotion", ...)`) imports `av_emotion.modeling` and
   `av_emotion.processing`, which register the real classes the usual way (`AutoConfig.register`, ...).

Model classes are keyed by config class in transformers (`AutoModel`), so they need no hook: a config class
exists only once its architecture module was imported, and importing it registers the models.
"""

from __future__ import annotations

import importlib
import importlib.abc
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

# Every `model_type` av_emotion registers (tests check this equals `av_emotion.ARCHITECTURES`).
MODEL_TYPES = ("av_metric_fusion", "avt_ca", "joint_cross_attention")
PIPELINE_TASK = "audio-video-emotion"


def register_everything() -> None:
    """Import the modules whose import registers every architecture, processor class and the pipeline's models."""
    importlib.import_module("av_emotion.processing")
    importlib.import_module("av_emotion.modeling")


class DeferredRegistrations(dict):
    """A registry's `_extra_content` whose av_emotion entries are imported on first use.

    `pending` keys (our `model_type` names for `CONFIG_MAPPING`; none for the processor mappings, which are keyed
    by config class) answer `in` without importing anything. Reading one of them, or listing the entries (what the
    processor Auto classes do to find a class by name), runs `register_everything` once, whose `register` calls
    store the real classes here.
    """

    def __init__(self, existing: dict, pending: tuple[str, ...] = ()):
        super().__init__(existing)
        self.pending = set(pending) - set(existing)
        self.resolved = False

    def resolve(self) -> None:
        """Import and register av_emotion's classes (once)."""
        if not self.resolved:
            self.resolved = True
            self.pending.clear()
            register_everything()

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.pending

    def __getitem__(self, key: Any) -> Any:
        if not dict.__contains__(self, key) and key in self.pending:
            self.resolve()
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        """`dict.get`, resolving a pending key first."""
        return self[key] if key in self else default

    def keys(self):
        """List the entries, av_emotion's included."""
        self.resolve()
        return dict.keys(self)

    def values(self):
        """List the entries, av_emotion's included."""
        self.resolve()
        return dict.values(self)

    def items(self):
        """List the entries, av_emotion's included."""
        self.resolve()
        return dict.items(self)

    def __iter__(self) -> Iterator[Any]:
        self.resolve()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self.resolve()
        return dict.__len__(self)


class PipelineTaskEntry(dict):
    """`PIPELINE_REGISTRY.supported_tasks["audio-video-emotion"]`: the registry entry, deferred or real.

    Deferred (created empty by the hook on `transformers.pipelines`): `pipeline()` reads `"impl"` and `"pt"`, and
    either imports `av_emotion.pipelines`, which registers the real entry (an instance of this class too), and
    the answer comes from it. `"default"` is missing from both on purpose (there is no default checkpoint): asking
    for it raises an error that names the fix, instead of a bare `KeyError: 'default'`.
    """

    def __missing__(self, key: str) -> Any:
        if key == "default":
            raise ValueError(
                f'pipeline("{PIPELINE_TASK}") needs a model: pass model="path/or/user/repo", a folder written by '
                "`av-emotion train` (or save_pretrained) or a Hub repo of an av_emotion model; there is no default "
                "checkpoint"
            )
        if "impl" in self:  # the real entry: the key is simply not there
            raise KeyError(key)
        from transformers.pipelines import PIPELINE_REGISTRY

        importlib.import_module("av_emotion.pipelines")
        entry = PIPELINE_REGISTRY.supported_tasks[PIPELINE_TASK]
        if entry is self:
            raise KeyError(key)
        return entry[key]


def _defer_config_mapping(module: Any) -> None:
    mapping = module.CONFIG_MAPPING
    if not isinstance(mapping._extra_content, DeferredRegistrations):
        mapping._extra_content = DeferredRegistrations(mapping._extra_content, MODEL_TYPES)


def _defer_processor_mapping(attribute: str) -> Callable[[Any], None]:
    def defer(module: Any) -> None:
        mapping = getattr(module, attribute)
        if not isinstance(mapping._extra_content, DeferredRegistrations):
            mapping._extra_content = DeferredRegistrations(mapping._extra_content)

    return defer


def _defer_pipeline(module: Any) -> None:
    tasks = module.PIPELINE_REGISTRY.supported_tasks
    if PIPELINE_TASK not in tasks:
        tasks[PIPELINE_TASK] = PipelineTaskEntry(type="multimodal")


HOOKS: dict[str, Callable[[Any], None]] = {
    "transformers.models.auto.configuration_auto": _defer_config_mapping,
    "transformers.models.auto.processing_auto": _defer_processor_mapping("PROCESSOR_MAPPING"),
    "transformers.models.auto.video_processing_auto": _defer_processor_mapping("VIDEO_PROCESSOR_MAPPING"),
    "transformers.models.auto.feature_extraction_auto": _defer_processor_mapping("FEATURE_EXTRACTOR_MAPPING"),
    "transformers.pipelines": _defer_pipeline,
}


class PostImportHooks(importlib.abc.MetaPathFinder):
    """A `sys.meta_path` finder that runs a function right after a named module has been executed.

    It finds nothing itself: for a hooked name it asks the other finders for the spec and wraps that spec's
    loader so the hook runs once the module's code has run. Every other import passes through untouched.
    """

    def __init__(self, hooks: dict[str, Callable[[Any], None]]):
        self.hooks = dict(hooks)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        """Return the spec the other finders give for a hooked module, with its loader wrapped; else None."""
        if fullname not in self.hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then_hook(module: Any) -> None:
            exec_module(module)
            hook = self.hooks.pop(fullname, None)
            if hook is not None:
                _run_hook(hook, module, fullname)

        loader.exec_module = exec_then_hook
        return spec


def _run_hook(hook: Callable[[Any], None], module: Any, name: str) -> None:
    try:
        hook(module)
    except Exception as error:  # never break transformers' own import; say what is lost
        logger.warning(
            "av_emotion could not register with %s (%s); import av_emotion.modeling to register", name, error
        )


_installed: PostImportHooks | None = None


def install() -> None:
    """Install the post-import hooks (idempotent); registries already imported get their deferred entries now."""
    global _installed
    if _installed is not None:
        return
    pending = {}
    for name, hook in HOOKS.items():
        module = sys.modules.get(name)
        if module is not None:
            _run_hook(hook, module, name)
        else:
            pending[name] = hook
    _installed = PostImportHooks(pending)
    sys.meta_path.insert(0, _installed)


__all__ = ["MODEL_TYPES", "DeferredRegistrations", "PipelineTaskEntry", "install", "register_everything"]
