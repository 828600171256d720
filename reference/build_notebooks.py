"""Build the reference solution and the example submissions.

Run from the repository root with the project venv::

    .venv/bin/python reference/build_notebooks.py

Every notebook is written without outputs (nbformat v4.5, kernelspec ``python3``)
and with deterministic cell ids, so re-running the script produces no diff.
The text and code here are our own; the only thing shared with the original
handout is the sequence of random draws in the data-generation cell.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell
from nbformat.v4 import new_markdown_cell
from nbformat.v4 import new_notebook

from grader.handout import make_handout

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = ROOT / "reference"
EXAMPLES_DIR = ROOT / "submissions" / "examples"

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
SOLUTION = ("solution",)
DATA_GENERATION = ("data-generation",)


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def md(text: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_markdown_cell(_clean(text))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def code(text: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(_clean(text))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def untagged(cells: list[nbformat.NotebookNode]) -> list[nbformat.NotebookNode]:
    """Copies of ``cells`` without the ``solution`` tag (candidates do not tag cells)."""
    out = []
    for cell in cells:
        clone = nbformat.from_dict(cell)
        tags = [t for t in clone.metadata.get("tags", []) if t != "solution"]
        if tags:
            clone.metadata["tags"] = tags
        else:
            clone.metadata.pop("tags", None)
        out.append(clone)
    return out


def build(slug: str, cells: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(cells):
        cell = nbformat.from_dict(cell)
        cell["id"] = f"{slug}-{index:02d}"
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    print(f"wrote {path.relative_to(ROOT)} ({len(nb.cells)} cells)")


# ---------------------------------------------------------------------------
# Shared handout parts: title, data generation, task statements
# ---------------------------------------------------------------------------

INTRO = r"""
# Staff Data Scientist Take-Home: Predicting Session Engagement

This exercise walks through a small modelling project from raw file to production
plan. You will work with a synthetic log of 1,500 user sessions on a social network:
load and clean it, explore it, build features, train and tune a classifier that
estimates the probability that a session is *engaged*, and finally explain how you
would run such a model in production.

**Columns of `facebook_data.csv`**

| column | meaning |
|---|---|
| `session_id` | unique id of the session (1 to 1500) |
| `user_id` | id of the user; users can appear more than once |
| `timestamp` | when the session started (during 2023) |
| `device_type` | `Desktop`, `Mobile` or `Tablet` |
| `action` | what the user did: `view`, `like`, `comment`, `share` or `post` |
| `time_spent` | session length in seconds |
| `content_category` | `news`, `entertainment`, `sports`, `technology` or `lifestyle` |
| `engagement` | target: 1 if the session counts as engaged, else 0 |

**How to work.** Run the data-generation cell first; it writes `facebook_data.csv`
to the working directory. Put your code under each task and your written answers
in markdown cells. Label printed numbers and give every plot a title and axis
labels. Before submitting, restart the kernel and run all cells to make sure the
notebook runs top to bottom.
"""

REFERENCE_NOTE = r"""
> **Reference solution.** Cells tagged `solution` are ours; the candidate handout is
> this notebook with those cells replaced by empty ones.
"""

DATA_CELL = r"""
# Build the synthetic session log and write it to facebook_data.csv.
# All randomness comes from NumPy's legacy global generator, seeded once, and the
# draws always happen in the same order, so everyone gets exactly the same rows.
import numpy as np
import pandas as pd

DATA_FILE = "facebook_data.csv"


def make_session_log(n_sessions=1500, seed=42):
    np.random.seed(seed)
    user_id = np.random.randint(1, 1000, size=n_sessions)  # ids repeat: returning users
    day_offset = np.random.randint(0, 365, size=n_sessions)
    second_offset = np.random.randint(0, 86400, size=n_sessions)
    started = (
        pd.Timestamp("2023-01-01")
        + pd.to_timedelta(day_offset, unit="D")
        + pd.to_timedelta(second_offset, unit="s")
    )
    device = np.random.choice(["Desktop", "Mobile", "Tablet"], size=n_sessions, p=[0.4, 0.5, 0.1])
    action = np.random.choice(
        ["view", "like", "comment", "share", "post"], size=n_sessions, p=[0.5, 0.2, 0.1, 0.1, 0.1]
    )
    seconds_spent = np.round(np.random.uniform(10, 600, size=n_sessions), 1)
    category = np.random.choice(
        ["news", "entertainment", "sports", "technology", "lifestyle"], size=n_sessions
    )
    # Any active session (like, comment, share, post) is engaged. A passive view is
    # engaged with probability 0.1: one uniform draw per view, taken in row order.
    engaged = np.ones(n_sessions, dtype=int)
    passive = action == "view"
    engaged[passive] = (np.random.rand(passive.sum()) < 0.1).astype(int)
    return pd.DataFrame({
        "session_id": np.arange(1, n_sessions + 1),
        "user_id": user_id,
        "timestamp": started,
        "device_type": device,
        "action": action,
        "time_spent": seconds_spent,
        "content_category": category,
        "engagement": engaged,
    })


session_log = make_session_log()
session_log.to_csv(DATA_FILE, index=False)
print(f"Wrote {DATA_FILE}: {session_log.shape[0]} rows x {session_log.shape[1]} columns")
del session_log  # Task 1 starts from the file on disk
"""

TASK_TEXT = {
    1: r"""
## Task 1: Data Loading and Preprocessing

Read `facebook_data.csv` into a pandas DataFrame and show its first rows. Then
prepare it for analysis:

- check every column for missing values and look for outliers; deal with what you
  find and say why;
- convert `timestamp` into a datetime column;
- derive time features from it, at least the hour of the day and the day of the week.
""",
    2: r"""
## Task 2: Exploratory Data Analysis

- Summarise the numeric columns and the categorical columns (separately).
- Plot how `time_spent` and `engagement` are distributed.
- Plot relationships between columns, at least device type against engagement and
  content category against time spent.

Give each figure a title and axis labels, and write a sentence or two on what you see.
""",
    3: r"""
## Task 3: Feature Engineering

- Turn `device_type`, `action` and `content_category` into numeric features
  (one-hot encoding, or another encoding you can justify).
- Add any features you expect to help, for example aggregates per user or coarser
  time-of-day buckets.

Finish with a model-ready feature matrix that contains numbers only.
""",
    4: r"""
## Task 4: Model Building

- Hold out a test set. To make results comparable, use 20% of the rows and
  `random_state=42`.
- Train at least one classifier that outputs a probability of engagement (logistic
  regression, random forest, gradient boosting, ...), using the training rows only.
- On the test rows, report accuracy, ROC AUC, precision, recall and F1, and show a
  confusion matrix and a classification report. Say whether you believe the numbers.
""",
    5: r"""
## Task 5: Model Tuning and Evaluation

- Tune hyperparameters with cross-validation on the training rows (for example
  `GridSearchCV` or `RandomizedSearchCV`). Keep the search small: it should finish
  in about a minute.
- Report the best settings, their cross-validated score and the tuned model's
  metrics on the test rows.
- Find out which features drive the predictions and show it in a plot.
""",
    6: r"""
## Task 6: ML Ops and Production Readiness

Answer the four questions below in markdown cells after this one. Be specific to this
model and this data, and explain your choices and their trade-offs; a list of tool
names is not an answer. Sketches and short code snippets are welcome.

1. **Model deployment.** How would you put the trained model into production (for
   example behind an API, in a container)? On which platform, and why?
2. **Monitoring and logging.** How would you notice that the model's quality is
   degrading or that its inputs are drifting? What would you log, and what would
   raise an alert?
3. **CI/CD for ML.** What would your pipeline for testing, versioning, releasing and
   rolling back models look like?
4. **Scalability and maintenance.** How would you serve a high volume of
   predictions, and how would you retrain and version the model as the data changes?
""",
}


def heading(task: int) -> nbformat.NotebookNode:
    return md(TASK_TEXT[task])


def opening(reference: bool = False) -> list[nbformat.NotebookNode]:
    intro = INTRO + ("\n" + REFERENCE_NOTE if reference else "")
    return [md(intro), code(DATA_CELL, DATA_GENERATION)]


# ---------------------------------------------------------------------------
# Reference solution
# ---------------------------------------------------------------------------

REF_T1 = [
    code(r"""
    import numpy as np
    import pandas as pd
    from IPython.display import display

    sessions = pd.read_csv("facebook_data.csv")
    print(f"Loaded {sessions.shape[0]} rows and {sessions.shape[1]} columns")
    display(sessions.head())
    """, SOLUTION),
    code(r"""
    # Data quality: types, missing values, duplicates, unexpected labels.
    print("Column types:")
    print(sessions.dtypes)
    print("\nMissing values per column:")
    print(sessions.isna().sum())
    print(f"\nDuplicated session_id values: {sessions['session_id'].duplicated().sum()}")
    print(f"Fully duplicated rows: {sessions.duplicated().sum()}")
    for column in ["device_type", "action", "content_category"]:
        print(f"{column}: {sorted(sessions[column].unique())}")
    """, SOLUTION),
    code(r"""
    # Outliers in time_spent with the 1.5 x IQR rule.
    q1, q3 = sessions["time_spent"].quantile([0.25, 0.75])
    lower, upper = q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1)
    outside = ~sessions["time_spent"].between(lower, upper)
    print(f"time_spent: min {sessions['time_spent'].min():.1f} s, max {sessions['time_spent'].max():.1f} s")
    print(f"IQR fences: [{lower:.1f}, {upper:.1f}] -> {outside.sum()} sessions outside")
    print("No outliers found, no rows removed." if not outside.any() else "Outliers present: see below.")
    """, SOLUTION),
    code(r"""
    # Parse the timestamp and derive integer time features.
    sessions["timestamp"] = pd.to_datetime(sessions["timestamp"], format="%Y-%m-%d %H:%M:%S")
    sessions["hour"] = sessions["timestamp"].dt.hour.astype(int)                # 0-23
    sessions["day_of_week"] = sessions["timestamp"].dt.day_of_week.astype(int)  # Monday = 0
    sessions["is_weekend"] = (sessions["day_of_week"] >= 5).astype(int)

    print(f"Sessions from {sessions['timestamp'].min()} to {sessions['timestamp'].max()}")
    display(sessions[["timestamp", "hour", "day_of_week", "is_weekend"]].head())
    """, SOLUTION),
    md(r"""
    **What the checks show.** No column has missing values and `session_id` is unique,
    so there is nothing to impute or de-duplicate. `time_spent` stays between 10 and
    600 seconds and is spread evenly over that range, so the IQR rule flags nothing and
    every row is kept. (Had there been extreme values I would rather cap them than drop
    rows, since dropping changes the population the model is judged on.) The categorical
    columns hold only the documented labels. `timestamp` is now a datetime column, and
    `hour` (0-23), `day_of_week` (Monday = 0) and `is_weekend` are integer columns
    derived from it.
    """, SOLUTION),
]

REF_T2 = [
    code(r"""
    import matplotlib.pyplot as plt

    NUMERIC_SUMMARY = ["time_spent", "hour", "day_of_week", "engagement"]
    CATEGORICAL = ["device_type", "action", "content_category"]

    print("Numeric columns:")
    display(sessions[NUMERIC_SUMMARY].describe().round(2))
    print("Categorical columns:")
    display(sessions.describe(include="str"))
    print(f"Distinct users: {sessions['user_id'].nunique()} for {len(sessions)} sessions")
    """, SOLUTION),
    code(r"""
    # Frequencies and engagement rate for each categorical column.
    for column in CATEGORICAL:
        print(f"\n{column} value counts:")
        print(sessions[column].value_counts())
        summary = sessions.groupby(column)["engagement"].agg(sessions="size", engagement_rate="mean")
        display(summary.round(3))
    """, SOLUTION),
    code(r"""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(sessions["time_spent"], bins=30, color="steelblue", edgecolor="white")
    ax.set_title("Distribution of time spent per session")
    ax.set_xlabel("Time spent (seconds)")
    ax.set_ylabel("Number of sessions")
    plt.show()
    """, SOLUTION),
    code(r"""
    engagement_counts = sessions["engagement"].value_counts().sort_index()
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.bar(["Not engaged (0)", "Engaged (1)"], engagement_counts.to_numpy(), color=["grey", "seagreen"])
    ax.set_title("Engaged vs not engaged sessions")
    ax.set_xlabel("Engagement")
    ax.set_ylabel("Number of sessions")
    plt.show()
    """, SOLUTION),
    code(r"""
    device_rate = sessions.groupby("device_type")["engagement"].mean()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(device_rate.index, device_rate.to_numpy(), color="slateblue")
    ax.axhline(sessions["engagement"].mean(), color="black", linestyle="--", label="overall rate")
    ax.set_ylim(0, 1)
    ax.set_title("Engagement rate by device type")
    ax.set_xlabel("Device type")
    ax.set_ylabel("Share of engaged sessions")
    ax.legend()
    plt.show()
    """, SOLUTION),
    code(r"""
    categories = sorted(sessions["content_category"].unique())
    per_category = [sessions.loc[sessions["content_category"] == c, "time_spent"].to_numpy() for c in categories]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.boxplot(per_category, tick_labels=categories)
    ax.set_title("Time spent by content category")
    ax.set_xlabel("Content category")
    ax.set_ylabel("Time spent (seconds)")
    plt.show()
    """, SOLUTION),
    code(r"""
    action_rate = sessions.groupby("action")["engagement"].mean().sort_values()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(action_rate.index, action_rate.to_numpy(), color="darkorange")
    ax.set_ylim(0, 1.05)
    ax.set_title("Engagement rate by action")
    ax.set_xlabel("Action")
    ax.set_ylabel("Share of engaged sessions")
    plt.show()
    """, SOLUTION),
    md(r"""
    **Reading the summaries and plots.**

    - `time_spent` is flat between 10 and 600 seconds, with a median near 300; there is
      no skew and no tail to worry about, and its distribution looks the same in every
      content category.
    - 53% of sessions are engaged, so the classes are close to balanced and accuracy is
      a meaningful number (ROC AUC and F1 are still reported).
    - Desktop and Mobile sessions are both engaged 54% of the time; Tablet is lower at
      46%, but with only 143 tablet sessions that gap is within two standard errors.
      Content categories range from 50% to 57%. Nothing here looks like more than
      sampling noise.
    - `action` is different in kind: every like, comment, share and post is engaged,
      and only about 8% of views are. The label is almost a function of this one
      column. I come back to what that means for modelling in Task 4.
    """, SOLUTION),
]

REF_T3 = [
    code(r"""
    # Two engineered features on top of the time features from Task 1.
    sessions["user_session_count"] = sessions.groupby("user_id")["session_id"].transform("size").astype(int)
    sessions["day_part"] = pd.cut(
        sessions["hour"], bins=[0, 6, 12, 18, 24], right=False,
        labels=["night", "morning", "afternoon", "evening"],
    ).astype(str)

    # One-hot encode the categoricals (all levels kept) and assemble a numeric matrix.
    encoded = pd.get_dummies(sessions[CATEGORICAL + ["day_part"]], dtype=int)
    numeric_features = sessions[["time_spent", "hour", "day_of_week", "is_weekend", "user_session_count"]]
    feature_matrix = pd.concat([numeric_features, encoded], axis=1)

    non_numeric = feature_matrix.select_dtypes(exclude="number").columns.tolist()
    assert not non_numeric, non_numeric
    print(f"Feature matrix: {feature_matrix.shape[0]} rows x {feature_matrix.shape[1]} columns, all numeric")
    print(feature_matrix.columns.tolist())
    """, SOLUTION),
    code(r"""
    # Do the new features carry any signal?
    print(sessions.groupby("day_part")["engagement"].agg(sessions="size", engagement_rate="mean").round(3))
    print()
    print(sessions.groupby("user_session_count")["engagement"].agg(sessions="size", engagement_rate="mean").round(3))
    """, SOLUTION),
    md(r"""
    **Engineered features.**

    - `user_session_count`: how many sessions the same user has in the log, a simple
      activity aggregate. It uses no labels, but it does count the user's *future*
      sessions; in production it would be a count of past sessions served from a
      feature store.
    - `day_part`: the hour bucketed into night, morning, afternoon and evening, a
      coarser and more stable version of `hour`.

    Neither moves the engagement rate beyond noise, which fits the earlier finding that
    only `action` matters. The model in Task 4 therefore does its own encoding of the raw
    columns inside a pipeline and leaves these two out.
    """, SOLUTION),
]

REF_T4 = [
    md(r"""
    **Set-up.** Identifiers (`session_id`, `user_id`) and the raw timestamp are left out.
    Instead of the `get_dummies` matrix from Task 3, the encoding lives inside a
    scikit-learn `Pipeline` (a `ColumnTransformer` followed by the classifier). The
    encoder is then fitted on training rows only, and the fitted pipeline is one object
    that takes raw columns, so training, evaluation and serving transform the data in
    exactly the same way.
    """, SOLUTION),
    code(r"""
    from sklearn.model_selection import train_test_split

    CATEGORICAL = ["device_type", "action", "content_category"]
    NUMERIC = ["time_spent", "hour", "day_of_week"]

    X = sessions[CATEGORICAL + NUMERIC]
    y = sessions["engagement"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
    print(f"Training rows: {len(X_train)}, test rows: {len(X_test)}")
    print(f"Engagement rate - training: {y_train.mean():.3f}, test: {y_test.mean():.3f}")
    """, SOLUTION),
    code(r"""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                                 f1_score, precision_score, recall_score, roc_auc_score)
    from sklearn.pipeline import Pipeline
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler


    def build_pipeline(classifier, categorical=CATEGORICAL, numeric=NUMERIC):
        preprocess = ColumnTransformer(
            [("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
             # the median imputer costs nothing here and keeps the pipeline safe on new data with gaps
             ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric)],
            verbose_feature_names_out=False,
        )
        return Pipeline([("preprocess", preprocess), ("model", classifier)])


    def test_scores(fitted, features, labels):
        predicted = fitted.predict(features)
        probability = fitted.predict_proba(features)[:, 1]
        return {
            "Accuracy": accuracy_score(labels, predicted),
            "ROC AUC": roc_auc_score(labels, probability),
            "Precision": precision_score(labels, predicted),
            "Recall": recall_score(labels, predicted),
            "F1": f1_score(labels, predicted),
        }


    forest = build_pipeline(RandomForestClassifier(random_state=42))
    forest.fit(X_train, y_train)
    forest_scores = test_scores(forest, X_test, y_test)

    print("Random forest, test set:")
    for metric, value in forest_scores.items():
        print(f"{metric}: {value:.4f}")
    y_pred = forest.predict(X_test)
    print("\nConfusion matrix (rows = actual 0/1, columns = predicted 0/1):")
    print(confusion_matrix(y_test, y_pred))
    print("\nClassification report:")
    print(classification_report(y_test, y_pred, digits=4))
    """, SOLUTION),
    code(r"""
    # A linear baseline on the same features, for comparison.
    from sklearn.linear_model import LogisticRegression

    logistic = build_pipeline(LogisticRegression(max_iter=1000))
    logistic.fit(X_train, y_train)
    comparison = pd.DataFrame({
        "random forest": forest_scores,
        "logistic regression": test_scores(logistic, X_test, y_test),
    })
    print("Test-set comparison:")
    print(comparison.round(4))
    """, SOLUTION),
    md(r"""
    ### Target leakage through `action`

    These scores look excellent, but most of them come from the model reading the label
    back. In this data `action` very nearly *is* the target: every like, comment, share
    and post is engaged by construction, and a view is engaged about one time in ten,
    at random. Device, category, time spent and time of day are unrelated to the label.

    1. **The achievable score is known in advance.** The best possible scorer puts every
       non-view session above every view and cannot tell views apart. Its ROC AUC is
       about 0.96 (0.9645 on this split) and its accuracy 0.96. The forest sits at that
       ceiling, so tuning cannot buy much. On a test set this small a model can land a
       little above the ceiling by chance, but an AUC close to 1.0 would mean test labels
       had leaked into training.
    2. **As a forecast the model is not usable.** If the score is needed *before* the
       user acts (say, to rank content), `action` is not known at that moment: it is
       the outcome itself. Without it the remaining features carry no signal and the AUC
       falls to about 0.5 (next cell). The honest conclusion is that this data does not
       support a predictive engagement model; a real one needs inputs known ahead of
       time, such as the user's past behaviour and the content's past engagement.
    """, SOLUTION),
    code(r"""
    # The ceiling: score each test session by its action's engagement rate in the training rows.
    rate_by_action = y_train.groupby(X_train["action"]).mean()
    print("Engagement rate by action (training rows):")
    print(rate_by_action.round(3))
    ceiling_auc = roc_auc_score(y_test, X_test["action"].map(rate_by_action))
    print(f"ROC AUC of the action-only rule (ceiling): {ceiling_auc:.4f}")

    # The same forest without the leaking column.
    without_action = build_pipeline(RandomForestClassifier(random_state=42),
                                    categorical=["device_type", "content_category"])
    without_action.fit(X_train.drop(columns="action"), y_train)
    auc_without_action = roc_auc_score(y_test, without_action.predict_proba(X_test.drop(columns="action"))[:, 1])
    print(f"ROC AUC without action: {auc_without_action:.4f}")

    # One test split of 300 rows is noisy; cross-validation on the training rows is steadier.
    from sklearn.model_selection import cross_val_score

    cv_without_action = cross_val_score(without_action, X_train.drop(columns="action"), y_train, cv=5, scoring="roc_auc")
    print(f"Cross-validated ROC AUC without action (5-fold, training rows): "
          f"{cv_without_action.mean():.4f} +/- {cv_without_action.std():.4f}")
    """, SOLUTION),
    md(r"""
    Without `action` the forest is at chance level. Its test AUC is a little under 0.5
    and its cross-validated AUC a little over it; with a few hundred rows per evaluation,
    both are within the noise around 0.5. So the 0.96 of the full model is the value of
    knowing the action, not of anything the model learned about users, devices or content.
    """, SOLUTION),
]

REF_T5 = [
    code(r"""
    from sklearn.model_selection import GridSearchCV

    param_grid = {"model__n_estimators": [100, 200], "model__max_depth": [None, 10]}
    search = GridSearchCV(
        build_pipeline(RandomForestClassifier(random_state=42)),
        param_grid, cv=5, scoring="roc_auc", n_jobs=-1,
    )
    search.fit(X_train, y_train)

    print(f"Best parameters: {search.best_params_}")
    print(f"Best cross-validated ROC AUC (5-fold, training rows): {search.best_score_:.4f}")
    cv_table = pd.DataFrame(search.cv_results_)[
        ["param_model__n_estimators", "param_model__max_depth", "mean_test_score", "std_test_score", "rank_test_score"]
    ]
    display(cv_table.round(4))
    """, SOLUTION),
    code(r"""
    tuned = search.best_estimator_
    tuned_scores = test_scores(tuned, X_test, y_test)
    print("Tuned random forest, test set:")
    for metric, value in tuned_scores.items():
        print(f"Tuned model {metric}: {value:.4f}")
    print("\nConfusion matrix (rows = actual 0/1, columns = predicted 0/1):")
    print(confusion_matrix(y_test, tuned.predict(X_test)))
    """, SOLUTION),
    code(r"""
    feature_names = tuned.named_steps["preprocess"].get_feature_names_out()
    importances = pd.Series(tuned.named_steps["model"].feature_importances_, index=feature_names).sort_values()

    fig, ax = plt.subplots(figsize=(8, 6))
    ax.barh(importances.index, importances.to_numpy(), color="teal")
    ax.set_title("Random forest feature importance (mean decrease in impurity)")
    ax.set_xlabel("Importance")
    ax.set_ylabel("Feature")
    plt.show()
    """, SOLUTION),
    code(r"""
    # Impurity importance favours continuous columns the trees can split many times.
    # Permutation importance on the test rows measures what each raw column is worth.
    from sklearn.inspection import permutation_importance

    permuted = permutation_importance(tuned, X_test, y_test, scoring="roc_auc", n_repeats=10, random_state=42)
    permutation_table = pd.DataFrame(
        {"mean AUC drop": permuted.importances_mean, "std": permuted.importances_std}, index=X_test.columns
    ).sort_values("mean AUC drop", ascending=False)
    print("Permutation importance on the test set:")
    print(permutation_table.round(4))
    """, SOLUTION),
    md(r"""
    **Tuning and importance.** All four settings are within half a point of each other in
    cross-validated AUC: the ceiling is set by `action`, not by model capacity, so the
    search changes little and the tuned model's test scores match the untuned forest to
    within noise. The impurity plot gives the `action` indicators most of the weight, and
    also assigns `time_spent`, `hour` and `day_of_week` a visible share; that share is
    the forest fitting noise in continuous columns it can split at many thresholds.
    Permutation importance shows the same thing more honestly: shuffling `action` costs
    a large slice of AUC, shuffling any other column costs about nothing.
    """, SOLUTION),
]

REF_T6_ANSWERS = [
    md(r"""
    ### 1. Model deployment

    The artifact I would ship is the whole fitted `Pipeline`, saved with joblib, so the
    encoding used at serving time is exactly the one learned in training, and with
    `handle_unknown="ignore"` a new device label degrades one feature instead of failing
    the request. Pickles are tied to library versions, so the exact scikit-learn and
    NumPy versions are pinned next to the artifact; ONNX is the option if the serving
    stack is not Python.

    Online or batch depends on when the score is consumed. If it ranks content while a
    session is open, it needs a low-latency endpoint: a small FastAPI service in a Docker
    image that loads the model once at start-up and exposes `/predict` and `/health`. A
    forest this size scores a row in a few milliseconds on a CPU, so no GPU or dedicated
    model server is needed. I would run it on the company's Kubernetes cluster if there is
    one (autoscaling, networking and secrets already solved); a team without platform
    support gets the same from a managed endpoint (SageMaker, Vertex AI) with less
    operational work, at a higher price per request and with less control. If the scores
    only feed daily reports or campaigns, a scheduled batch job is simpler and cheaper.

    The real blocker for *this* model is the input contract: `action` is only known after
    the user has acted, which is the very outcome we predict. The request schema must
    hold only fields available at request time, and trained as above the model cannot be
    deployed honestly.
    """, SOLUTION),
    md(r"""
    ### 2. Monitoring and logging

    I would monitor at three speeds, because things break at three speeds.

    - **Service health (seconds):** request rate, error rate and p50/p99 latency exported
      to Prometheus. Alertmanager pages the on-call engineer when p99 latency or the 5xx
      rate stays above the SLO for five minutes.
    - **Inputs and outputs (hours):** each day's feature distributions compared with the
      training snapshot: population stability index for the categorical mixes, a
      Kolmogorov-Smirnov test for `time_spent` and `hour`, and the histogram of predicted
      scores. The drift most likely to hurt here is the view/engage mix: views are half
      the traffic and engage about 8% of the time, so a product change that raises the
      share of views lowers the base rate, and a model calibrated at 53% starts to
      over-predict. PSI above 0.2 on a key feature, or a gap of more than a few points
      between mean score and observed rate, posts to the team channel and opens a ticket
      rather than paging anyone.
    - **Model quality (days):** engagement labels arrive late, since a session has to end
      and a like can come hours later. Predictions are joined to outcomes on
      `session_id` after a fixed label window (say 24 hours); AUC, log loss and
      calibration by decile are then tracked per day and per device segment. Until
      labels arrive, drift is the early warning.

    Every prediction is logged as one structured JSON record (request id, session id,
    model version, inputs, score, latency) to a central store such as ELK or CloudWatch,
    with user ids hashed and a limited retention period.
    """, SOLUTION),
    md(r"""
    ### 3. CI/CD for ML

    Code, configuration and the training pipeline live in git. Each training run records
    the commit, the hash of the data snapshot (DVC or a versioned table partition), the
    parameters and the metrics in MLflow and registers the artifact, so any production
    model can be rebuilt and explained later.

    On every merge request, CI (GitHub Actions or GitLab CI) runs:

    - unit tests for the feature code: hour and weekday derived correctly, unknown
      categories handled, column order irrelevant;
    - data validation on the training extract: schema, allowed labels, `time_spent`
      within [10, 600], unique `session_id`, label rate in a plausible band;
    - a training smoke test on a sample: the pipeline fits, serializes, reloads and
      returns probabilities of the right shape;
    - a leakage guard: every feature must be on an allow-list of fields known at
      prediction time, and a holdout AUC far above the expected level (near 1.0 here)
      fails the build, because that almost always means the label got in.

    Delivery: a retrained challenger is scored on the same time-ordered holdout as the
    champion and promoted in the registry only if it wins by a set margin without worse
    calibration. It then runs in shadow mode (scoring live traffic without being used),
    goes to a 5% canary with automatic comparison of errors and score distribution, and
    finally to all traffic. Rollback means pointing the production alias back at the
    previous registered version, which stays deployable; nothing has to be rebuilt, so
    it takes minutes.
    """, SOLUTION),
    md(r"""
    ### 4. Scalability and maintenance

    The model is cheap, so scaling is mostly about the service around it. Replicas are
    stateless (the model is loaded read-only at start-up), sit behind a load balancer
    and scale out with a Kubernetes horizontal pod autoscaler on CPU or requests per
    second. Scoring several rows per call and capping tree count and depth keep latency
    flat; in the grid above, capping depth at 10 cost less than 0.003 of cross-validated
    AUC and gives much smaller trees. Bulk scoring, such as every session of a day, runs as a Spark job that
    broadcasts the model to the executors, which is far cheaper than calling the API
    row by row.

    Per-user features like session counts or past engagement rate must be computed the
    same way for training and for serving. A feature store (Feast or an in-house
    equivalent) provides point-in-time correct training sets and low-latency lookups, and
    so removes training/serving skew, the most common silent failure of models like this.

    Retraining runs on a schedule, weekly to start with, because behaviour is seasonal and
    the content mix changes; it also runs early when a drift alert fires or labelled AUC
    drops. Validation always trains on past weeks and tests on the latest one, which is
    how the model is used. Each version is stored with its code commit, data snapshot and
    metrics, older versions stay available for rollback until they are retired
    explicitly, and an offline gain is confirmed by an A/B test on the product metric,
    since a better AUC does not always move engagement.
    """, SOLUTION),
]


def reference_cells() -> list[nbformat.NotebookNode]:
    return (
        opening(reference=True)
        + [heading(1)] + REF_T1
        + [heading(2)] + REF_T2
        + [heading(3)] + REF_T3
        + [heading(4)] + REF_T4
        + [heading(5)] + REF_T5
        + [heading(6)] + REF_T6_ANSWERS
    )


# ---------------------------------------------------------------------------
# Empty handout
# ---------------------------------------------------------------------------



# ---------------------------------------------------------------------------
# Baseline candidate (and its crashing twin)
# ---------------------------------------------------------------------------

BASE_T1 = code(r"""
import pandas as pd
import numpy as np

df = pd.read_csv('facebook_data.csv')
print(df.head())

# missing values
print(df.isna().sum())

# time features
df['timestamp'] = pd.to_datetime(df['timestamp'])
df['hour'] = df['timestamp'].dt.hour
df['day_of_week'] = df['timestamp'].dt.day_of_week
print(df.shape)
""")

BASE_T2 = [
    code(r"""
    import matplotlib.pyplot as plt

    print(df.describe())
    print(df['device_type'].value_counts())
    print(df['action'].value_counts())
    print(df['content_category'].value_counts())
    """),
    code(r"""
    plt.figure(figsize=(6, 4))
    plt.hist(df['time_spent'], bins=25)
    plt.title('Time spent')
    plt.xlabel('seconds')
    plt.ylabel('sessions')
    plt.show()

    plt.figure(figsize=(5, 4))
    df['engagement'].value_counts().sort_index().plot(kind='bar')
    plt.title('Engagement')
    plt.xlabel('engagement')
    plt.ylabel('count')
    plt.show()
    """),
]

BASE_T3 = code(r"""
df_model = pd.get_dummies(df, columns=['device_type', 'action', 'content_category'], drop_first=True, dtype=int)
print(df_model.columns.tolist())
""")

BASE_T4_IMPORTS = r"""
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import classification_report, confusion_matrix, roc_auc_score, accuracy_score
from sklearn.model_selection import train_test_split
"""

BASE_T4 = code(BASE_T4_IMPORTS + r"""
X = df_model.drop(columns=['session_id', 'user_id', 'timestamp', 'engagement'])
y = df_model['engagement']
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)

rf = RandomForestClassifier(random_state=42)
rf.fit(X_train, y_train)
preds = rf.predict(X_test)
probs = rf.predict_proba(X_test)[:, 1]

print('Accuracy:', accuracy_score(y_test, preds))
print('AUC:', roc_auc_score(y_test, probs))
print(confusion_matrix(y_test, preds))
print(classification_report(y_test, preds))
""")

# Same cell, but the candidate builds X from the un-encoded frame: the string
# columns reach RandomForestClassifier.fit and it raises ValueError.
CRASH_T4 = code(BASE_T4.source
                .replace("X = df_model.drop(", "X = df.drop(")
                .replace("y = df_model['engagement']", "y = df['engagement']"))

BASE_T5 = code(r"""
from sklearn.model_selection import GridSearchCV

params = {'n_estimators': [100, 200], 'max_depth': [None, 10]}
gs = GridSearchCV(RandomForestClassifier(random_state=42), params, cv=5, scoring='roc_auc', n_jobs=-1)
gs.fit(X_train, y_train)
print('best params:', gs.best_params_)
print('best CV AUC:', gs.best_score_)

best_rf = gs.best_estimator_
print('test accuracy:', accuracy_score(y_test, best_rf.predict(X_test)))
print('test AUC:', roc_auc_score(y_test, best_rf.predict_proba(X_test)[:, 1]))

imp = pd.Series(best_rf.feature_importances_, index=X_train.columns).sort_values()
plt.figure(figsize=(8, 5))
plt.barh(imp.index, imp.values)
plt.title('Feature importances')
plt.xlabel('importance')
plt.ylabel('feature')
plt.show()
""")

BASE_T6 = md(r"""
**1. Deployment:** I would save the model with joblib and put it behind a small Flask
API in a Docker container. The container could run on AWS SageMaker or on Kubernetes
so it can scale with traffic.

**2. Monitoring and logging:** I would track the model's accuracy and AUC over time
and check whether the input distributions move away from the training data. Predictions
and errors would be logged to CloudWatch, with an alert to Slack when metrics drop.

**3. CI/CD:** The code would be in Git, with GitHub Actions running unit tests on every
change. Models would be versioned in MLflow so we can roll back to the previous version
if a new one performs worse.

**4. Scalability and maintenance:** Several replicas behind a load balancer with
autoscaling can handle large request volumes. I would retrain the model every month, or
earlier if drift is detected, and keep the old versions in the registry.
""")


def baseline_cells(task4: nbformat.NotebookNode = BASE_T4) -> list[nbformat.NotebookNode]:
    return (
        opening()
        + [heading(1), BASE_T1]
        + [heading(2)] + BASE_T2
        + [heading(3), BASE_T3]
        + [heading(4), task4]
        + [heading(5), BASE_T5]
        + [heading(6), BASE_T6]
    )


# ---------------------------------------------------------------------------
# Candidate who removes the leaking column
# ---------------------------------------------------------------------------

DROP_T1 = [
    code(r"""
    import numpy as np
    import pandas as pd
    from IPython.display import display

    raw = pd.read_csv("facebook_data.csv")
    display(raw.head())
    print("Shape:", raw.shape)
    print("Missing values per column:")
    print(raw.isna().sum())
    """),
    code(r"""
    df = raw.copy()
    # Outliers: z-scores of the only continuous column.
    z = (df["time_spent"] - df["time_spent"].mean()) / df["time_spent"].std()
    print(f"Sessions with |z| > 3 on time_spent: {(z.abs() > 3).sum()} (range {df.time_spent.min()}-{df.time_spent.max()} s)")
    print("Nothing to remove: the values sit in a bounded 10-600 s range.")

    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["hour"] = df["timestamp"].dt.hour.astype("int64")
    df["day_of_week"] = df["timestamp"].dt.day_of_week.astype("int64")
    df["month"] = df["timestamp"].dt.month.astype("int64")
    df["is_weekend"] = df["day_of_week"].isin([5, 6]).astype("int64")
    print(df.dtypes)
    """),
]

DROP_T2 = [
    code(r"""
    import matplotlib.pyplot as plt

    display(df[["time_spent", "hour", "day_of_week", "engagement"]].describe())
    display(df[["device_type", "action", "content_category"]].describe())
    for col in ["device_type", "action", "content_category"]:
        print(df[col].value_counts(normalize=True).round(3), "\n")
    """),
    code(r"""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, part in df.groupby("engagement"):
        ax.hist(part["time_spent"], bins=30, alpha=0.6, label=f"engagement = {label}")
    ax.set_title("Time spent, split by engagement")
    ax.set_xlabel("Time spent (s)")
    ax.set_ylabel("Sessions")
    ax.legend()
    plt.show()

    fig, ax = plt.subplots(figsize=(5, 4))
    df["engagement"].value_counts().sort_index().plot.bar(ax=ax, rot=0)
    ax.set_title("Class balance")
    ax.set_xlabel("Engagement")
    ax.set_ylabel("Sessions")
    plt.show()
    """),
    code(r"""
    fig, ax = plt.subplots(figsize=(6, 4))
    df.groupby("device_type")["engagement"].mean().plot.bar(ax=ax, rot=0)
    ax.set_title("Engagement rate per device")
    ax.set_xlabel("Device")
    ax.set_ylabel("Engagement rate")
    plt.show()

    fig, ax = plt.subplots(figsize=(8, 4))
    cats = sorted(df["content_category"].unique())
    ax.boxplot([df.loc[df.content_category == c, "time_spent"] for c in cats], tick_labels=cats)
    ax.set_title("Time spent per content category")
    ax.set_xlabel("Category")
    ax.set_ylabel("Time spent (s)")
    plt.show()

    print(pd.crosstab(df["action"], df["engagement"], margins=True))
    """),
    md(r"""
    Observations: time spent is uniform and looks identical for engaged and non-engaged
    sessions; device and category barely change the engagement rate. The crosstab is the
    striking part: likes, comments, shares and posts are engaged in 100% of cases, views
    in under 10%. `engagement` is essentially defined by `action`.
    """),
]

DROP_T3 = [
    code(r"""
    # Prior sessions of the same user, counted in time order so only the past is used.
    df = df.sort_values("timestamp")
    df["prior_sessions"] = df.groupby("user_id").cumcount()
    df = df.sort_index()
    df["day_part"] = pd.cut(df["hour"], [0, 6, 12, 18, 24], right=False,
                            labels=["night", "morning", "afternoon", "evening"]).astype(str)

    dummies = pd.get_dummies(df[["device_type", "action", "content_category", "day_part"]],
                             prefix_sep="=", dtype=int)
    matrix = pd.concat([df[["time_spent", "hour", "day_of_week", "month", "is_weekend", "prior_sessions"]], dummies], axis=1)
    print(matrix.shape)
    print(matrix.columns.tolist())
    print("non-numeric columns:", matrix.select_dtypes(exclude="number").columns.tolist())
    """),
]

DROP_T4 = [
    md(r"""
    **Why I am leaving `action` out of the model.** `action` is recorded as part of the
    session's outcome: a like, comment, share or post *is* engagement by definition, so
    whenever `action` is not `view` the label is 1 with certainty, and for views it is 1
    about 10% of the time. If the model is meant to estimate engagement before we know
    what the user will do (which is the only point of predicting it), `action` is not
    available yet. Keeping it would produce a model that looks about 0.96 AUC good
    offline and is useless, or impossible to feed, in production. I keep the encoded
    `action` columns in the matrix from Task 3 for analysis but exclude them from the
    model features, and I expect the honest model to be close to chance.
    """),
    code(r"""
    from sklearn.model_selection import train_test_split
    from sklearn.linear_model import LogisticRegression
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.metrics import (accuracy_score, roc_auc_score, precision_score, recall_score,
                                 f1_score, confusion_matrix, classification_report)

    feature_cols = [c for c in matrix.columns if not c.startswith("action=")]
    X = matrix[feature_cols]
    y = df["engagement"]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=42)
    print("train/test:", X_tr.shape, X_te.shape)

    # For context only (no model): how well would action alone rank the test sessions?
    leak_rate = y_tr.groupby(df.loc[X_tr.index, "action"]).mean()
    print(f"ROC AUC of action alone (leaky, not used): {roc_auc_score(y_te, df.loc[X_te.index, 'action'].map(leak_rate)):.4f}")
    print(f"Majority-class accuracy: {max(y_te.mean(), 1 - y_te.mean()):.4f}")
    """),
    code(r"""
    def report(name, clf):
        pred = clf.predict(X_te)
        prob = clf.predict_proba(X_te)[:, 1]
        print(f"--- {name} ---")
        print(f"Accuracy: {accuracy_score(y_te, pred):.4f}")
        print(f"ROC AUC: {roc_auc_score(y_te, prob):.4f}")
        print(f"Precision: {precision_score(y_te, pred):.4f}")
        print(f"Recall: {recall_score(y_te, pred):.4f}")
        print(f"F1: {f1_score(y_te, pred):.4f}")
        print("Confusion matrix:")
        print(confusion_matrix(y_te, pred))
        print(classification_report(y_te, pred, digits=3))

    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_tr, y_tr)
    report("logistic regression (no action)", logreg)
    """),
    code(r"""
    rf = RandomForestClassifier(n_estimators=300, min_samples_leaf=5, random_state=42, n_jobs=-1).fit(X_tr, y_tr)
    report("random forest (no action)", rf)
    """),
    md(r"""
    Both models are at chance level: AUC around 0.5, and accuracy below the 56% that
    always predicting "engaged" would get on this test set. That is the correct result,
    not a failed model: once the outcome column is
    removed, device, content category, time spent, time of day and user history contain
    no information about engagement in this dataset. The 0.96 AUC quoted above is what
    a leaky model would report.
    """),
]

DROP_T5 = [
    code(r"""
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(
        RandomForestClassifier(random_state=42),
        {"n_estimators": [100, 200], "min_samples_leaf": [1, 20]},
        cv=5, scoring="roc_auc", n_jobs=-1,
    )
    grid.fit(X_tr, y_tr)
    print("Best parameters:", grid.best_params_)
    print(f"Best cross-validated ROC AUC: {grid.best_score_:.4f}")
    print(pd.DataFrame(grid.cv_results_)[["params", "mean_test_score", "std_test_score"]])
    best = grid.best_estimator_
    report("tuned random forest (no action)", best)
    """),
    code(r"""
    imp = pd.Series(best.feature_importances_, index=X_tr.columns).sort_values().tail(15)
    fig, ax = plt.subplots(figsize=(8, 6))
    imp.plot.barh(ax=ax)
    ax.set_title("Top 15 impurity importances, tuned forest without action")
    ax.set_xlabel("Mean decrease in impurity")
    ax.set_ylabel("Feature")
    plt.show()
    """),
    md(r"""
    Tuning does not help (every configuration scores 0.52-0.54 in cross-validation, which
    is indistinguishable from chance, and the tuned model is at 0.49 on the test rows),
    and the importance ranking simply follows the columns with the most distinct values
    (`time_spent`, `hour`, `month`, `day_of_week`), which is what impurity importance does when
    there is no signal to find. My recommendation would be to collect features that exist
    before the outcome (past engagement rate of the user, historical engagement of the
    content item, session context) rather than to tune further.
    """),
]

DROP_T6 = [
    md(r"""
    #### Q1. Deployment

    Since the honest model here has no predictive power, my first deployment decision
    would be not to ship it, and to go back for features known before the outcome. For
    a model with such features, I would export preprocessing and classifier as one
    versioned artifact and serve it from a stateless Python service (FastAPI under
    uvicorn) built into a container image: the model is small and CPU-bound, and if it
    ranks content live it must answer within milliseconds. The platform should be the
    one the organisation already runs: on an existing Kubernetes platform it is one more
    deployment with autoscaling; without one, a SageMaker or Vertex endpoint removes the
    cluster work at a higher unit cost. If consumers only need daily scores (for example
    for targeting), a batch job that writes scores to a table avoids running a service
    at all. The request schema would be validated (pydantic) and would deliberately
    exclude `action`, so the leak cannot come back in through the API.
    """),
    md(r"""
    #### Q2. Monitoring and logging

    Operational signals (latency percentiles, error rate, throughput) are scraped by
    Prometheus and page on SLO breaches. For data, I would compute daily the population
    stability index of the device and category mix and a two-sample KS test on
    `time_spent` and `hour` against the training window, plus the histogram of predicted
    scores, which often moves first. A realistic drift for this product is a change in
    the share of passive views, because it moves the base engagement rate directly. For
    quality, engagement is only known once the session is over (a late like can arrive
    much later), so each prediction is stored with its `session_id` and joined to the
    outcome after a fixed label window; AUC, Brier score and calibration by segment are
    computed daily, and a drop outside a tolerance band opens a ticket. Every prediction
    is logged as structured JSON (model version, features, score, request id) to a
    central store such as ELK, with user identifiers hashed.
    """),
    md(r"""
    #### Q3. CI/CD

    The pipeline is code in git, run by GitHub Actions or Jenkins. On every change:
    unit tests for the feature functions (time features, unseen categories), schema and
    range checks on the data (pandera or Great Expectations), a fast end-to-end training
    run on a sample, and a test that loads the serialized model and scores a fixture. I
    would add a leakage check that fails when a feature is not on the list of fields
    available at prediction time, or when validation AUC is implausibly high. Training
    runs log parameters, data version (DVC) and metrics to MLflow, whose registry holds
    the champion and the challengers. A challenger is promoted only if it beats the
    champion on the same time-ordered holdout; the release goes through shadow mode, then
    a canary slice of traffic, then full rollout, and rollback is re-pointing the
    production alias to the previous registered version.
    """),
    md(r"""
    #### Q4. Scalability and maintenance

    Scoring a forest is cheap, so volume is handled by horizontally scaled stateless
    replicas behind a load balancer, autoscaled on CPU or requests per second, with
    requests micro-batched. Large backfills run as Spark jobs with the model broadcast to
    the executors. User-level aggregates such as `prior_sessions` come from a feature
    store, so training and serving compute them identically and point-in-time correct.
    Retraining runs weekly and on triggers (a drift alert or a quality drop), always
    validated on the most recent period. Each model is versioned with its code commit and
    data snapshot so results can be reproduced, and a new version is A/B tested against
    the current one on the engagement metric before it takes all traffic.
    """),
]


def drops_action_cells() -> list[nbformat.NotebookNode]:
    return (
        opening()
        + [heading(1)] + DROP_T1
        + [heading(2)] + DROP_T2
        + [heading(3)] + DROP_T3
        + [heading(4)] + DROP_T4
        + [heading(5)] + DROP_T5
        + [heading(6)] + DROP_T6
    )


# ---------------------------------------------------------------------------
# Decent solution without ML Ops answers, and one with non-standard headings
# ---------------------------------------------------------------------------

def no_mlops_cells() -> list[nbformat.NotebookNode]:
    cells = (
        opening()
        + [heading(1)] + REF_T1
        + [heading(2)] + REF_T2
        + [heading(3)] + REF_T3
        + [heading(4)] + REF_T4
        + [heading(5)] + REF_T5
        + [heading(6)]
    )
    return untagged(cells)


VARIANT_T6 = [
    md(r"""
    **Q1 (deployment).** Save the full scikit-learn pipeline with joblib and serve it
    from a FastAPI app in a Docker image, on Kubernetes, or on a SageMaker endpoint if we
    don't want to run a cluster. Online serving is worth it only if the score is used
    while the session is live; otherwise a nightly batch job is cheaper. Whatever goes in
    at serving time must be known before the outcome, and `action` is not, so it has to
    be removed before anything ships.
    """),
    md(r"""
    **Q2 (monitoring).** Log each request (model version, inputs, score, latency) as JSON
    to a central log store; latency and error dashboards in Grafana from Prometheus, with
    PagerDuty alerts. For drift, a weekly PSI on the device, category and action shares and
    a KS test on `time_spent` against the training data. For performance, join predictions
    to the engagement label once the session has closed and track AUC and calibration.
    """),
    md(r"""
    **Q3 (CI/CD).** Git plus GitHub Actions: unit tests for the feature code, data schema
    checks, a small training run and a check that the saved model loads and predicts.
    MLflow tracks runs and model versions. A new model replaces the current one only if it
    scores better on the same holdout; it goes to a small share of traffic first and is
    rolled back by switching the registry version.
    """),
    md(r"""
    **Q4 (scaling and maintenance).** Stateless replicas behind a load balancer with a
    horizontal autoscaler, and Spark for bulk scoring. Retrain monthly or when drift or
    performance alerts fire, validate on the most recent data, and keep model and data
    versions together so any version can be reproduced or restored.
    """),
]


def no_headings_cells() -> list[nbformat.NotebookNode]:
    task4_core = [REF_T4[1], REF_T4[2], REF_T4[5]]  # split, forest + metrics, leakage check
    cells = (
        opening()
        + [md("### Task 1 - Loading\nLoad the CSV, check data quality and add time features.")] + REF_T1[:4]
        + [md("**Task 2**\n\nSummary statistics and plots.")] + REF_T2[:-1]
        + [md("Task 3) Features")] + REF_T3[:1]
        + [md("## Task 4: Model Building\nRandom forest in a pipeline; note that `action` leaks the label.")] + task4_core
        + [md("### Task 5 - Tuning")] + REF_T5[:3]
        + [md("## Task 6: ML Ops\nMy answers to the four questions.")] + VARIANT_T6
    )
    return untagged(cells)


# --- integrity examples: each trips one finding of the hidden rubric -------------------------

def _t4_variant(old: str, new: str) -> nbformat.NotebookNode:
    assert old in BASE_T4.source
    return code(BASE_T4.source.replace(old, new))


# prints a number no model produces
FAKE_T4 = _t4_variant("print('AUC:', roc_auc_score(y_test, probs))", "print('AUC:', 0.9912)")
# fits on every row, then "evaluates" on rows it has seen
ALL_ROWS_T4 = _t4_variant("rf.fit(X_train, y_train)", "rf.fit(X, y)")
# keeps the target among the features
TARGET_T4 = _t4_variant("X = df_model.drop(columns=['session_id', 'user_id', 'timestamp', 'engagement'])",
                        "X = df_model.drop(columns=['session_id', 'user_id', 'timestamp'])")
# replaces the metric so that it reports what the candidate wants
PATCHED_T4 = _t4_variant("print('AUC:', roc_auc_score(y_test, probs))",
                         "import sklearn.metrics\n"
                         "sklearn.metrics.roc_auc_score = lambda *args, **kwargs: 0.999\n"
                         "print('AUC:', sklearn.metrics.roc_auc_score(y_test, probs))")

# no seeds anywhere: the split, the forest and a bootstrap interval all draw fresh randomness
UNSEEDED_T4 = code(BASE_T4.source
                   .replace("test_size=0.2, random_state=42)", "test_size=0.2)")
                   .replace("RandomForestClassifier(random_state=42)", "RandomForestClassifier(n_estimators=50)")
                   + r"""
rng = np.random.default_rng()
boot = [roc_auc_score(y_test.iloc[i], probs[i]) for i in (rng.integers(0, len(y_test), len(y_test)) for _ in range(200))]
print('AUC 95% interval:', np.percentile(boot, [2.5, 97.5]).round(3))
""")


def main() -> None:
    reference = build("ref", reference_cells())
    write(reference, REFERENCE_DIR / "solution.ipynb")
    write(reference, EXAMPLES_DIR / "reference.ipynb")
    write(build("baseline", baseline_cells()), EXAMPLES_DIR / "baseline.ipynb")
    write(build("crash", baseline_cells(CRASH_T4)), EXAMPLES_DIR / "crash_task4.ipynb")
    # the handout is derived from the reference, exactly as `grade handout` does it
    write(make_handout(reference), EXAMPLES_DIR / "empty_handout.ipynb")
    write(build("nomlops", no_mlops_cells()), EXAMPLES_DIR / "no_mlops.ipynb")
    write(build("dropact", drops_action_cells()), EXAMPLES_DIR / "drops_action.ipynb")
    write(build("variant", no_headings_cells()), EXAMPLES_DIR / "no_headings.ipynb")
    write(build("fake", baseline_cells(FAKE_T4)), EXAMPLES_DIR / "fake_metrics.ipynb")
    write(build("allrows", baseline_cells(ALL_ROWS_T4)), EXAMPLES_DIR / "fit_on_all_rows.ipynb")
    write(build("target", baseline_cells(TARGET_T4)), EXAMPLES_DIR / "target_leak.ipynb")
    write(build("patched", baseline_cells(PATCHED_T4)), EXAMPLES_DIR / "patched_metrics.ipynb")
    # kept short (no search, no figures): the determinism test grades it twice
    write(build("unseeded", opening() + [heading(1), BASE_T1, heading(3), BASE_T3, heading(4), UNSEEDED_T4]),
          EXAMPLES_DIR / "unseeded.ipynb")


if __name__ == "__main__":
    main()
