# Runs in the candidate's kernel after the last cell (sent through the kernel client).
# Discovers values by what they are, not by their names, and writes one JSON document
# of raw facts to the kernel's own stdout. Nothing here is trusted by the grader beyond
# being facts to check: metrics are recomputed in the grader process.


def _grader_probe():
    import json
    import math
    import sys
    import types
    import warnings

    state = sys.modules.get("_grader_state")
    ip = sys.modules["IPython"].get_ipython()
    ns = ip.user_ns
    out = {"ok": True, "frames": [], "estimators": [], "splits": [], "figures": [],
           "library_patched": [], "calls": {}, "notes": []}
    if state is None:
        out["notes"].append("preamble state missing (the notebook removed it)")
    else:
        out["notes"].extend(state.errors[:20])
        out["calls"] = dict(state.calls)

    source_cols = ["session_id", "user_id", "timestamp", "device_type", "action", "time_spent",
                   "content_category", "engagement"]
    levels = {
        "device_type": ["desktop", "mobile", "tablet"],
        "action": ["view", "like", "comment", "share", "post"],
        "content_category": ["news", "entertainment", "sports", "technology", "lifestyle"],
    }
    hidden = {"In", "Out", "exit", "quit", "get_ipython", "open"}

    try:
        import numpy as np
        import pandas as pd
    except Exception as e:
        out["ok"] = False
        out["error"] = "pandas/numpy not importable: %r" % (e,)
        state.out.write(json.dumps(out) + "\n")
        return

    def is_estimator(v):
        return hasattr(v, "fit") and hasattr(v, "get_params") and not isinstance(v, type)

    # -- walk the namespace: globals, containers one level down, estimators' attributes
    items = []
    for k, v in list(ns.items()):
        if k.startswith("_") or k in hidden or isinstance(v, (types.ModuleType, type)):
            continue
        items.append((k, v))
        if isinstance(v, dict) and len(v) <= 50:
            items.extend(("%s[%r]" % (k, kk), vv) for kk, vv in v.items()
                         if is_estimator(vv) or isinstance(vv, (pd.DataFrame, pd.Series, np.ndarray)))
        elif isinstance(v, (list, tuple)) and len(v) <= 50:
            items.extend(("%s[%d]" % (k, i), vv) for i, vv in enumerate(v)
                         if is_estimator(vv) or isinstance(vv, (pd.DataFrame, pd.Series, np.ndarray)))
    seen = set()
    uniq = []
    for k, v in items:
        if id(v) not in seen:
            seen.add(id(v))
            uniq.append((k, v))
    items = uniq

    def from_generator(v):
        if state is None:
            return False
        fp = state.snapshot.get(id(v))
        return fp is not None and fp == state.fingerprint(v)

    def intlike(s):
        return pd.api.types.is_integer_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)

    def binary(s):
        if pd.api.types.is_bool_dtype(s.dtype):
            return True
        if pd.api.types.is_numeric_dtype(s.dtype):
            try:
                return set(pd.unique(s.dropna())) <= {0, 1}
            except TypeError:
                return False
        return False

    # -- DataFrames
    frames = [(k, v) for k, v in items if isinstance(v, pd.DataFrame) and len(v) >= 50][:40]
    main = None
    for k, df in frames:
        try:
            cols = [str(c) for c in df.columns]
            f = {"name": k, "shape": [int(df.shape[0]), int(df.shape[1])], "columns": cols[:300],
                 "dtypes": {str(c): str(t) for c, t in list(df.dtypes.items())[:300]},
                 "from_generator": from_generator(df),
                 "source_columns": [c for c in source_cols if c in cols]}
            ts_cols = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c].dtype)]
            f["timestamp_is_datetime"] = "timestamp" in [str(c) for c in ts_cols]
            f["hour_columns"], f["weekday_columns"] = [], []
            if ts_cols:
                ts = df[ts_cols[0]]
                hour, wd = ts.dt.hour, ts.dt.day_of_week
                for c in df.columns:
                    s = df[c]
                    if c in ts_cols or not intlike(s):
                        continue
                    vals = s.to_numpy()
                    if len(vals) and np.array_equal(vals, hour.to_numpy()):
                        f["hour_columns"].append(str(c))
                    elif len(vals) and np.array_equal(vals, wd.to_numpy()):
                        f["weekday_columns"].append(str(c))
            f["string_columns"] = [str(c) for c in df.columns
                                   if not (pd.api.types.is_numeric_dtype(df[c].dtype)
                                           or pd.api.types.is_bool_dtype(df[c].dtype)
                                           or pd.api.types.is_datetime64_any_dtype(df[c].dtype))][:50]
            groups = {}
            onehot = set()
            for c in df.columns:
                name = str(c).lower()
                if str(c) in source_cols or not binary(df[c]):
                    continue
                for var, lv in levels.items():
                    if any(name.endswith(x) or name.endswith(x + "]") for x in lv) and \
                            (var in name or name.split("_")[-1] in lv or name in lv):
                        groups.setdefault(var, []).append(str(c))
                        onehot.add(str(c))
                        break
            f["onehot_groups"] = groups
            f["has_target"] = "engagement" in cols
            known = set(source_cols) | onehot | set(f["hour_columns"]) | set(f["weekday_columns"])
            f["extra_features"] = [str(c) for c in df.columns
                                   if str(c) not in known and pd.api.types.is_numeric_dtype(df[c].dtype)
                                   and str(c).lower() not in ("index", "unnamed: 0")][:50]
            out["frames"].append(f)
            if "session_id" in cols and "time_spent" in cols and (main is None or from_generator(main[1])):
                main = (k, df)
        except Exception as e:
            out["notes"].append("frame %s: %r" % (k, e))

    # -- library tampering: live objects vs the pristine ones kept by the preamble
    if state is not None:
        import importlib

        for qual, (obj, code) in state.pristine.items():
            modname, name = qual.rsplit(".", 1)
            try:
                live = getattr(importlib.import_module(modname), name, None)
                defmod = sys.modules.get(getattr(obj, "__module__", ""), None)
                at_def = getattr(defmod, getattr(obj, "__name__", name), obj) if defmod else obj
                if live is not obj or at_def is not obj or (code is not None and obj.__code__ is not code):
                    out["library_patched"].append(qual)
            except Exception as e:
                out["notes"].append("tamper check %s: %r" % (qual, e))

    # -- estimators
    check_fitted = getattr(state, "check_is_fitted", None)

    def fitted(est):
        try:
            check_fitted(est)
            return True
        except Exception:
            return False

    def short(v):
        r = repr(v)
        return r if len(r) <= 200 else r[:197] + "..."

    def final_of(est):
        steps = getattr(est, "steps", None)
        return steps[-1][1] if steps else est

    def names_of(est):
        n = getattr(est, "feature_names_in_", None)
        if n is None and getattr(est, "steps", None):
            n = getattr(est.steps[0][1], "feature_names_in_", None)
        return [str(x) for x in n] if n is not None else []

    def uses_action(names):
        if not names:
            return None
        return any(x == "action" or x.startswith("action_") or "action" in x.split("__")[-1] for x in names)

    def int_index(x):
        idx = getattr(x, "index", None)
        if idx is not None and pd.api.types.is_integer_dtype(idx.dtype):
            return [int(i) for i in idx]
        return None

    data_objs = [(k, v) for k, v in items
                 if (isinstance(v, pd.DataFrame) or (isinstance(v, np.ndarray) and v.ndim == 2)) and len(v) >= 10]
    label_objs = [(k, v) for k, v in items
                  if (isinstance(v, pd.Series) or (isinstance(v, np.ndarray) and v.ndim == 1)) and len(v) >= 10]

    def held_out(est, fit_index, fit_rows):
        names = names_of(est)
        nfeat = getattr(est, "n_features_in_", None)
        best, best_score = None, None
        for k, x in data_objs:
            exact = 0
            if isinstance(x, pd.DataFrame):
                cols = [str(c) for c in x.columns]
                if names and cols != names:
                    # predict(X_test[features]) or X_test.drop(...) leave no global: select the columns
                    if not set(names) <= set(cols) or len(set(cols)) != len(cols):
                        continue
                    x = x[[c for c in x.columns if str(c) in set(names)]]
                    x = x[[c for n in names for c in x.columns if str(c) == n]]
                    k, exact = "%s[%d of %d columns]" % (k, len(names), len(cols)), -1
                if not names and nfeat is not None and x.shape[1] != nfeat:
                    continue
            else:
                if names or (nfeat is not None and x.shape[1] != nfeat):
                    continue
            xi = int_index(x)
            score = exact
            if fit_index is not None and xi is not None:
                if not set(xi) & set(fit_index):
                    score += 4
                elif set(xi) <= set(fit_index) and len(xi) == len(fit_index):
                    score -= 4
            elif fit_rows is not None and len(x) == fit_rows:
                score -= 2
            low = k.split("[")[0].lower()
            score += ("test" in low or "val" in low or "hold" in low) - 2 * ("train" in low)
            key = (score, -len(x))
            if best_score is None or key > best_score:
                best, best_score = (k, x), key
        return best

    def labels_for(x):
        xi = int_index(x)
        for _name, y in label_objs:
            if len(y) != len(x):
                continue
            if isinstance(y, pd.Series) and xi is not None and int_index(y) != xi:
                continue
            try:
                vals = np.asarray(y).astype(float)
                if set(np.unique(vals)) <= {0.0, 1.0}:
                    return [int(v) for v in vals]
            except (TypeError, ValueError):
                continue
        return None

    def test_facts(est, k, x):
        t = {"x_name": k, "n_rows": int(len(x)), "index": int_index(x)}
        xi = t["index"]
        if isinstance(x, pd.DataFrame):
            if "session_id" in x.columns:
                t["session_ids"] = [int(v) for v in x["session_id"]]
            if "time_spent" in x.columns and pd.api.types.is_numeric_dtype(x["time_spent"].dtype):
                t["time_spent"] = [float(v) for v in x["time_spent"]]
        if main is not None and xi is not None and t.get("session_ids") is None:
            mdf = main[1]
            try:
                if set(xi) <= set(mdf.index):
                    t["session_ids"] = [int(v) for v in mdf.loc[xi, "session_id"]]
                    if t.get("time_spent") is None:
                        t["time_spent"] = [float(v) for v in mdf.loc[xi, "time_spent"]]
            except Exception as e:
                out["notes"].append("row ids for %s: %r" % (k, e))
        t["y_candidate"] = labels_for(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                pred = est.predict(x)
                t["pred"] = [int(float(p)) for p in np.asarray(pred).ravel()]
            except Exception as e:
                out["notes"].append("predict %s: %r" % (k, e))
            try:
                classes = list(getattr(est, "classes_", [0, 1]))
                if hasattr(est, "predict_proba"):
                    proba = np.asarray(est.predict_proba(x))
                    col = classes.index(1) if 1 in classes else proba.shape[1] - 1
                    t["proba"] = [float(p) for p in proba[:, col]]
                elif hasattr(est, "decision_function"):
                    t["proba"] = [float(p) for p in np.asarray(est.decision_function(x)).ravel()]
            except Exception as e:
                out["notes"].append("predict_proba %s: %r" % (k, e))
        for key in ("proba",):
            if t.get(key) is not None:
                t[key] = [p if math.isfinite(p) else 0.0 for p in t[key]]
        return t

    fits = state.fits if state is not None else {}
    estimators = [(k, v) for k, v in items if is_estimator(v)]
    refit_by = {}  # id(best_estimator_) -> the search whose fit refitted it
    for k, v in list(estimators):
        best = getattr(v, "best_estimator_", None)
        if best is not None:
            refit_by[id(best)] = v
            if id(best) not in seen:
                seen.add(id(best))
                estimators.append((k + ".best_estimator_", best))
    for k, est in estimators[:30]:
        try:
            if check_fitted is None or not fitted(est) or fits.get(id(est), {}).get("failed"):
                continue
            fin = final_of(est)
            search = hasattr(est, "best_params_")
            e = {"name": k, "cls": type(est).__name__, "module": type(est).__module__,
                 "is_pipeline": hasattr(est, "steps"), "is_search": search,
                 "final_estimator": type(fin).__name__,
                 "is_classifier": getattr(fin, "_estimator_type", None) == "classifier"
                 or hasattr(fin, "predict_proba") or search,
                 "params": {str(p): short(val) for p, val in list(est.get_params(deep=False).items())[:40]
                            if not is_estimator(val)},
                 "n_features_in": int(est.n_features_in_) if hasattr(est, "n_features_in_") else None,
                 "feature_names": names_of(est)[:300]}
            e["uses_action"] = uses_action(e["feature_names"])
            if "random_state" in fin.get_params(deep=False):
                e["final_random_state"] = short(fin.get_params(deep=False)["random_state"])
            if search:
                e["best_params"] = {str(p): short(val) for p, val in est.best_params_.items()}
                bs = getattr(est, "best_score_", None)
                e["best_score"] = float(bs) if bs is not None and math.isfinite(float(bs)) else None
                res = getattr(est, "cv_results_", {}) or {}
                e["cv_scores"] = [float(s) for s in res.get("mean_test_score", []) if math.isfinite(float(s))][:500]
                e["cv"] = short(getattr(est, "cv", None))
                e["scoring"] = short(getattr(est, "scoring", None))
            imp_holder = getattr(fin, "best_estimator_", fin)
            imp_holder = final_of(imp_holder)
            e["has_importances"] = hasattr(imp_holder, "feature_importances_") or hasattr(imp_holder, "coef_")
            rec = fits.get(id(est))
            if rec is None and id(est) in refit_by:
                rec = fits.get(id(refit_by[id(est)]))
                e["refit_by"] = next((n for n, v in estimators if v is refit_by[id(est)]), None)
            if rec is not None and not rec.get("failed"):
                e["fit_rows"] = rec["n_rows"]
                e["fit_index"] = rec["index"]
            if e["is_classifier"]:
                ho = held_out(est, e.get("fit_index"), e.get("fit_rows"))
                if ho is not None:
                    e["test"] = test_facts(est, ho[0], ho[1])
                    e["test"]["uses_action"] = e["uses_action"]
            out["estimators"].append(e)
        except Exception as ex:
            out["notes"].append("estimator %s: %r" % (k, ex))

    # -- splits: pairs of same-shaped feature tables, the larger taken as train
    try:
        tables = [(k, v) for k, v in data_objs if len(v) < 100000]
        for i, (ka, a) in enumerate(tables):
            for kb, b in tables[i + 1:]:
                if a.shape[1] != b.shape[1] or len(a) == len(b):
                    continue
                if isinstance(a, pd.DataFrame) != isinstance(b, pd.DataFrame):
                    continue
                if isinstance(a, pd.DataFrame) and list(a.columns) != list(b.columns):
                    continue
                (kt, t), (ks, s) = ((ka, a), (kb, b)) if len(a) > len(b) else ((kb, b), (ka, a))
                ti, si = int_index(t), int_index(s)
                overlap = len(set(ti) & set(si)) if ti is not None and si is not None else -1
                if overlap == len(s):
                    continue  # a subset of the same table, not a split
                out["splits"].append({"train_name": kt, "test_name": ks, "n_train": int(len(t)),
                                      "n_test": int(len(s)), "overlap": overlap})
    except Exception as e:
        out["notes"].append("splits: %r" % (e,))

    if state is not None:
        figs, seen_figs = [], set()
        for f in state.figures:
            key = (f["fig_id"], f["count"])
            if key in seen_figs:
                continue
            seen_figs.add(key)
            figs.append({"title": f["title"][:200], "xlabel": f["xlabel"][:200], "ylabel": f["ylabel"][:200],
                         "kind": f["kind"], "count": f["count"]})
        out["figures"] = figs[:200]

    state.out.write("\n" + json.dumps(out, default=str) + "\n")
    state.out.flush()


_grader_probe()
del _grader_probe
