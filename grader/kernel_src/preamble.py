# Runs in the candidate's kernel before the first cell (sent through the kernel client,
# never added to the notebook). It records facts that would be lost by the end of the
# run and keeps pristine references to the library functions the probe relies on.
# Everything lives on one module object so the candidate's namespace stays untouched.


def _grader_preamble():
    import functools
    import sys
    import threading
    import types

    state = types.ModuleType("_grader_state")
    state.out = sys.stdout
    state.fits = {}
    state.figures = []
    state.calls = {}
    state.snapshot = {}
    state.local = threading.local()
    state.pristine = {}
    state.errors = []
    sys.modules["_grader_state"] = state

    def fingerprint(value):
        shape = getattr(value, "shape", None)
        cols = getattr(value, "columns", None)
        dtypes = getattr(value, "dtypes", None)
        return repr((type(value).__name__, shape, list(cols) if cols is not None else None,
                     [str(d) for d in dtypes] if cols is not None else None))

    def take_snapshot(ns):
        # values made by the data-generation cell alone earn nothing
        state.snapshot = {id(v): fingerprint(v) for k, v in ns.items()
                          if not k.startswith("_") and hasattr(v, "shape")}

    state.fingerprint = fingerprint
    state.take_snapshot = take_snapshot

    def _user_frame(depth=2):
        try:
            name = sys._getframe(depth).f_code.co_filename
        except ValueError:
            return False
        return "ipykernel_" in name or name.startswith("<")

    # pristine library references (tampering is detected by comparing against these)
    try:
        import sklearn.metrics
        import sklearn.model_selection
        import sklearn.utils.validation

        for mod in (sklearn.metrics, sklearn.model_selection):
            for name in dir(mod):
                obj = getattr(mod, name)
                if isinstance(obj, types.FunctionType) or isinstance(obj, type):
                    code = getattr(obj, "__code__", None)
                    state.pristine[mod.__name__ + "." + name] = (obj, code)
        state.check_is_fitted = sklearn.utils.validation.check_is_fitted
    except Exception as e:  # sklearn missing is an environment fact, reported by the probe
        state.errors.append("preamble sklearn: %r" % (e,))

    # fit recording: wrap ``fit`` of every estimator class, present and future
    def _wrap_fit(cls):
        orig = cls.__dict__.get("fit")
        if orig is None or getattr(orig, "_grader_orig", None) is not None or not callable(orig):
            return

        @functools.wraps(orig)
        def fit(self, X, *args, **kwargs):
            depth = getattr(state.local, "depth", 0)
            state.local.depth = depth + 1
            ok = False
            try:
                result = orig(self, X, *args, **kwargs)
                ok = True
                return result
            finally:
                state.local.depth = depth
                if depth == 0:
                    _record_fit(self, X, ok)

        fit._grader_orig = orig
        try:
            cls.fit = fit
        except (TypeError, AttributeError):
            pass

    def _record_fit(est, X, ok=True):
        if not ok:  # a fit that raised leaves no fitted model, whatever attributes it set
            state.fits[id(est)] = {"failed": True}
            return
        try:
            n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
            index = None
            idx = getattr(X, "index", None)
            if idx is not None and n <= 200000 and str(idx.dtype).startswith(("int", "uint")):
                index = [int(i) for i in idx]
            state.fits[id(est)] = {"n_rows": n, "index": index, "x_id": id(X)}
        except Exception as e:
            state.errors.append("fit record: %r" % (e,))

    try:
        import sklearn.base

        base = sklearn.base.BaseEstimator

        def _walk(cls):
            for sub in cls.__subclasses__():
                _wrap_fit(sub)
                _walk(sub)

        _walk(base)
        parent_hook = base.__dict__.get("__init_subclass__")

        def __init_subclass__(cls, **kwargs):
            if parent_hook is not None:
                parent_hook.__func__(cls, **kwargs)
            else:
                super(base, cls).__init_subclass__(**kwargs)
            _wrap_fit(cls)

        base.__init_subclass__ = classmethod(__init_subclass__)
    except Exception as e:
        state.errors.append("preamble fit hook: %r" % (e,))

    # determinism: fix what can be fixed so two grades of one notebook agree
    # (numpy's global RNG and ``random`` get a seed; an unseeded default_rng() a fixed sequence)
    try:
        import itertools
        import random

        import numpy as np

        random.seed(0)
        np.random.seed(0)
        orig_default_rng = np.random.default_rng
        fresh = itertools.count()

        @functools.wraps(orig_default_rng)
        def default_rng(seed=None):
            return orig_default_rng(20261204 + next(fresh) if seed is None else seed)

        np.random.default_rng = default_rng
    except Exception as e:
        state.errors.append("preamble seeds: %r" % (e,))

    # candidate calls of pandas methods that show a data check (counted only from user code)
    try:
        import pandas as pd

        def _count(owner, name):
            orig = getattr(owner, name)

            @functools.wraps(orig)
            def wrapper(*args, **kwargs):
                if _user_frame():
                    state.calls[name] = state.calls.get(name, 0) + 1
                return orig(*args, **kwargs)

            setattr(owner, name, wrapper)

        for owner in (pd.DataFrame, pd.Series):
            for name in ("isna", "isnull", "notna", "notnull", "dropna", "fillna", "info", "describe",
                         "value_counts", "head", "quantile", "clip"):
                if hasattr(owner, name):
                    _count(owner, name)
    except Exception as e:
        state.errors.append("preamble pandas: %r" % (e,))

    # figure facts at render time (the inline backend closes figures after showing them)
    try:
        import matplotlib.backend_bases as bb

        orig_print = bb.FigureCanvasBase.print_figure

        @functools.wraps(orig_print)
        def print_figure(self, *args, **kwargs):
            try:
                fig = self.figure
                ip = sys.modules.get("IPython")
                count = ip.get_ipython().execution_count if ip and ip.get_ipython() else None
                axes = fig.get_axes()
                kinds = set()
                for ax in axes:
                    if ax.patches:
                        kinds.add("bar")
                    if ax.lines:
                        kinds.add("line")
                    if ax.collections:
                        kinds.add("collection")
                    if ax.images:
                        kinds.add("image")
                title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) else ""
                title = title or next((ax.get_title() for ax in axes if ax.get_title()), "")
                state.figures.append({
                    "fig_id": id(fig),
                    "count": count,
                    "title": title,
                    "xlabel": next((ax.get_xlabel() for ax in axes if ax.get_xlabel()), ""),
                    "ylabel": next((ax.get_ylabel() for ax in axes if ax.get_ylabel()), ""),
                    "kind": ",".join(sorted(kinds)),
                })
            except Exception as e:
                state.errors.append("figure record: %r" % (e,))
            return orig_print(self, *args, **kwargs)

        bb.FigureCanvasBase.print_figure = print_figure
    except Exception as e:
        state.errors.append("preamble matplotlib: %r" % (e,))


_grader_preamble()
del _grader_preamble
