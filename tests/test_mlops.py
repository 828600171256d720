"""Task 6: locating the ML Ops answers, text analysis, sample similarity and the check.

All notebooks are built in memory and only loaded (no kernel), so these tests are fast.
"""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import nbformat
import pytest

import grader.mlops
from grader.checks.mlops import mlops_answer
from grader.load import load
from grader.mlops import FINGERPRINT_FILE
from grader.mlops import count_words
from grader.mlops import coverage
from grader.mlops import locate_answers
from grader.mlops import reasoning_signals
from grader.mlops import sample_similarity
from grader.mlops import similar_pairs
from grader.mlops import stem
from grader.models import Evidence
from grader.models import MLOpsAnswer
from grader.models import ProbeFacts
from grader.models import RunInfo
from grader.models import Submission
from grader.rubric import parse_rubric

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "solution.ipynb"
RUBRIC = ROOT / "rubrics" / "staff-ds.yaml"
SEED = ROOT.parent / "shared" / "seed" / "handout_as_given.ipynb"
needs_seed = pytest.mark.skipif(not SEED.exists(), reason="the seed handout is not on this machine")

QUESTIONS = """## Task 6: ML Ops and Production Readiness

Answer the following questions in your submission. Provide written explanations and, where applicable, code snippets or diagrams:

1. **Model Deployment:**
   - How would you deploy your trained model in a production environment (e.g., using REST APIs, containerization)?
   - Which platforms or tools would you use (e.g., AWS SageMaker, Docker, Kubernetes) and why?

2. **Monitoring and Logging:**
   - Describe how you would monitor the model's performance and detect data drift over time.
   - What logging and alerting mechanisms would you implement?

3. **CI/CD Pipeline for ML:**
   - Outline your strategy for setting up a continuous integration and deployment (CI/CD) pipeline for machine learning models.
   - Mention specific tools or practices (e.g., model versioning, automated testing, rollback mechanisms).

4. **Scalability and Maintenance:**
   - How would you ensure that your model scales to handle high volumes of data and prediction requests?
   - Discuss strategies for model retraining and versioning in response to evolving data.

*(Please provide your detailed answers as additional markdown cells in your submission.)*
"""

ANSWERS = {
    1: "I would ship the fitted pipeline with joblib behind a small FastAPI service in Docker. Online scoring "
       "only makes sense if the score is used while the session is open; otherwise a nightly batch job is "
       "cheaper. The request must not contain action, because action is only known after the user engages.",
    2: "Log every prediction with its model version and inputs to CloudWatch. Labels arrive late, since a like "
       "can come hours after the view, so AUC is computed daily after a label window. Until then I watch "
       "drift: a PSI above 0.2 on the view share matters most, because more views lower the base rate.",
    3: "Code lives in git and GitHub Actions runs unit tests for the feature code and a data validation step "
       "on every change. A retrained model is promoted in the MLflow registry only if it beats the current "
       "one on the same holdout, because otherwise a noisy retrain could ship. It goes to a 5% canary first, "
       "and rollback re-points the alias to the previous version, so it takes minutes.",
    4: "The forest is cheap, so stateless replicas behind a load balancer with an autoscaler handle volume; "
       "bulk scoring runs in Spark instead of calling the API row by row. Retraining is weekly because the "
       "view/engage mix shifts, and each model version is kept with its data snapshot for rollback.",
}
TOOL_LISTS = {
    1: "Docker, Kubernetes, EKS, GKE, AKS, FastAPI, Flask, BentoML, TorchServe, SageMaker, Vertex AI, Azure ML, "
       "joblib, pickle, ONNX, REST API, gRPC, batch, online.",
    2: "Prometheus, Grafana, Alertmanager, PagerDuty, Slack, ELK, CloudWatch, Datadog, Evidently, PSI, KS test, "
       "KL divergence, drift, latency, throughput, AUC, calibration, logging.",
    3: "Git, GitHub Actions, Jenkins, GitLab CI, MLflow, DVC, W&B, model registry, unit tests, data validation, "
       "pytest, Great Expectations, canary, blue-green, shadow, champion/challenger, rollback.",
    4: "Kubernetes HPA, autoscaling, load balancer, stateless replicas, Redis cache, Feast feature store, Spark, "
       "Dask, Airflow retraining, weekly retrain, MLflow versioning, DVC, A/B testing, canary.",
}
TITLES = {1: "Model deployment", 2: "Monitoring and logging", 3: "CI/CD for ML", 4: "Scalability and maintenance"}


# --- helpers -------------------------------------------------------------------------------------------------


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text)


def notebook(tmp_path: Path, cells: list[nbformat.NotebookNode], name: str = "nb") -> Submission:
    """Write ``cells`` (after a short Tasks 1-5 preamble) as a notebook and load it."""
    head = [md("# Take-home"), code("import pandas as pd"),
            md("## Task 4: Model Building"), code("model = RandomForestClassifier()\nmodel.fit(X_train, y_train)")]
    nb = nbformat.v4.new_notebook(cells=head + cells)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return load(path)[0]


def by_question(answers: list[MLOpsAnswer]) -> dict[int, MLOpsAnswer]:
    assert [a.question for a in answers] == [1, 2, 3, 4]
    return {a.question: a for a in answers}


def assert_found(answers: list[MLOpsAnswer], expected: dict[int, str] = ANSWERS) -> None:
    found = by_question(answers)
    for q, text in expected.items():
        assert found[q].words == count_words(text), (q, found[q].text)
        assert " ".join(text.split()) in " ".join(found[q].text.split())


def evidence(sub: Submission, answers: list[MLOpsAnswer]) -> Evidence:
    return Evidence(grader_version="test", probe_version="test", submission=sub,
                    run=RunInfo(cells=[], seconds=0.0, kernel="python3", isolation="none"),
                    probe=ProbeFacts(), mlops=answers)


def answers_from(texts: dict[int, str]) -> list[MLOpsAnswer]:
    return [MLOpsAnswer(question=q, text=t, cells=[10 + q], words=count_words(t),
                        sample_similarity=sample_similarity(t, q)) for q, t in sorted(texts.items())]


@pytest.fixture(scope="module")
def t6_params() -> dict[int, dict]:
    rubric = parse_rubric(RUBRIC)
    checks = [c for t, c in rubric.checks() if t.id == 6]
    assert {c.id for c in checks} == {"t6_deployment", "t6_monitoring", "t6_cicd", "t6_scalability"}
    assert all(c.check == "mlops_answer" and c.points == 4 and c.visibility == "public" for c in checks)
    return {c.params["question"]: c.params for c in checks}


@pytest.fixture(scope="module")
def reference_sub() -> Submission:
    return load(REFERENCE)[0]


# --- locating answers -------------------------------------------------------------------------------------


def test_one_cell_with_four_headed_sections(tmp_path):
    body = "\n\n".join(f"### {q}. {TITLES[q]}\n\n{ANSWERS[q]}" for q in ANSWERS)
    sub = notebook(tmp_path, [md(QUESTIONS), md(body)])
    answers = locate_answers(sub)
    assert_found(answers)
    assert all(a.cells == [sub.tasks[6].heading_cell + 1] for a in answers)


def test_many_cells_with_varied_headings(tmp_path):
    cells = [
        md(QUESTIONS),
        md(f"### 1. Model deployment\n{ANSWERS[1]}"),
        md(f"**Q2 Monitoring**\n\n{ANSWERS[2]}"),
        md(f"3) CI/CD: {ANSWERS[3]}"),
        md(f"## Scalability and maintenance\n\n{ANSWERS[4]}"),
    ]
    sub = notebook(tmp_path, cells)
    answers = locate_answers(sub)
    assert_found(answers)
    first = sub.tasks[6].heading_cell + 1
    assert [a.cells for a in answers] == [[first], [first + 1], [first + 2], [first + 3]]


def test_answer_split_over_two_cells_is_joined(tmp_path):
    half = len(ANSWERS[2]) // 2
    cut = ANSWERS[2].rindex(". ", 0, half) + 1
    cells = [md(QUESTIONS), md(f"### 1. Deployment\n{ANSWERS[1]}"), md(f"### 2. Monitoring\n{ANSWERS[2][:cut]}"),
             md(ANSWERS[2][cut:].strip()), md(f"### 3. CI/CD\n{ANSWERS[3]}"), md(f"### 4. Scaling\n{ANSWERS[4]}")]
    answers = by_question(locate_answers(notebook(tmp_path, cells)))
    assert answers[2].words == count_words(ANSWERS[2])
    assert len(answers[2].cells) == 2


def test_answers_below_the_questions_in_the_same_cell(tmp_path):
    body = "\n\n".join(f"**{q}. {TITLES[q]}:** {ANSWERS[q]}" for q in ANSWERS)
    sub = notebook(tmp_path, [md(QUESTIONS + "\n---\n\n## My answers\n\n" + body)])
    answers = locate_answers(sub)
    assert_found(answers)
    for a in answers:
        assert "How would you" not in a.text and "Please provide" not in a.text


def test_questions_alone_are_not_an_answer(tmp_path):
    sub = notebook(tmp_path, [md(QUESTIONS)])
    assert all(a.words == 0 and a.text == "" and a.cells == [] for a in locate_answers(sub))


def test_reference_questions_are_stripped(tmp_path, reference_sub):
    heading = reference_sub.cells[reference_sub.tasks[6].heading_cell].source
    body = "\n\n".join(f"#### Q{q}. {TITLES[q]}\n{ANSWERS[q]}" for q in ANSWERS)
    assert_found(locate_answers(notebook(tmp_path, [md(heading + "\n\n" + body)])))
    assert all(a.words == 0 for a in locate_answers(notebook(tmp_path, [md(heading)], "q")))


def test_answers_in_code_comments(tmp_path):
    lines = []
    for q in ANSWERS:
        lines.append(f"# Q{q} {TITLES[q]}")
        lines += [f"# {chunk}" for chunk in ANSWERS[q].split(". ")]
    sub = notebook(tmp_path, [md(QUESTIONS), code("\n".join(lines) + "\nprint('done')\n")])
    answers = by_question(locate_answers(sub))
    for q in ANSWERS:
        assert answers[q].words == count_words(ANSWERS[q])
        assert answers[q].cells == [sub.tasks[6].heading_cell + 1]


def test_answers_in_a_docstring(tmp_path):
    body = "\n\n".join(f"{q}. {TITLES[q]}: {ANSWERS[q]}" for q in ANSWERS)
    sub = notebook(tmp_path, [md(QUESTIONS), code(f'"""\n{body}\n"""\nx = 1  # not an answer\n')])
    answers = by_question(locate_answers(sub))
    for q in ANSWERS:
        assert answers[q].words == count_words(ANSWERS[q]), answers[q].text


def test_numbered_list_inside_an_answer_stays_in_it(tmp_path):
    steps = "1. Run unit tests on the feature code.\n2. Build the image.\n3. Deploy to staging.\n4. Monitor."
    cells = [md(QUESTIONS), md(f"### 1. Deployment\n{ANSWERS[1]}"), md(f"### 2. Monitoring\n{ANSWERS[2]}"),
             md(f"### 3. CI/CD\n{ANSWERS[3]}\n\n{steps}"), md(f"### 4. Scaling\n{ANSWERS[4]}")]
    answers = by_question(locate_answers(notebook(tmp_path, cells)))
    assert "Build the image" in answers[3].text
    assert answers[1].words == count_words(ANSWERS[1])
    assert answers[4].words == count_words(ANSWERS[4])


def test_four_unheaded_cells_are_taken_in_order(tmp_path):
    cells = [md("## Task 6: ML Ops\nMy answers below.")] + [md(ANSWERS[q]) for q in ANSWERS]
    assert_found(locate_answers(notebook(tmp_path, cells)))


def test_unheaded_cells_after_the_question_cell(tmp_path):
    # The questions' numbered list must not swallow the next cells into question 4.
    assert_found(locate_answers(notebook(tmp_path, [md(QUESTIONS)] + [md(ANSWERS[q]) for q in ANSWERS])))


def test_heading_cells_followed_by_answer_cells(tmp_path):
    cells = [md(QUESTIONS)] + [c for q in ANSWERS for c in (md(f"### {q}. {TITLES[q]}"), md(ANSWERS[q]))]
    assert_found(locate_answers(notebook(tmp_path, cells)))


@pytest.mark.parametrize("style", [
    "#### Q{q}. {title}", "**{q}) {title}**", "Question {q} - {title}", "6.{q} {title}", "({q}) {title}:",
    "### {title}", "{q}. {title}", "**{title}:**", "Q{q}:", "__Q{q}: {title}__",
])
def test_heading_styles(tmp_path, style):
    cells = [md(QUESTIONS)] + [md(style.format(q=q, title=TITLES[q]) + "\n" + ANSWERS[q]) for q in ANSWERS]
    assert_found(locate_answers(notebook(tmp_path, cells)))


@pytest.mark.parametrize("style", ["**{q}. {title}:** ", "Q{q}: ", "({q}) {title}: "])
def test_heading_and_answer_on_one_line(tmp_path, style):
    body = "\n\n".join(style.format(q=q, title=TITLES[q]) + ANSWERS[q] for q in ANSWERS)
    assert_found(locate_answers(notebook(tmp_path, [md(QUESTIONS), md(body)])))


def test_no_task6_heading_uses_text_after_the_last_fit(tmp_path):
    cells = [md(f"### {q}. {TITLES[q]}\n{ANSWERS[q]}") for q in ANSWERS]
    sub = notebook(tmp_path, cells)
    assert 6 not in sub.tasks
    assert_found(locate_answers(sub))


@pytest.mark.parametrize("placeholder", [
    "*Your answer to question {q} here.*", "TODO", "Answer here", "TBD: fill in later", "...", "(your answer)",
])
def test_placeholders_count_as_empty(tmp_path, placeholder):
    cells = [md(QUESTIONS)] + [md(f"### {q}. {TITLES[q]}\n\n{placeholder.format(q=q)}") for q in ANSWERS]
    answers = locate_answers(notebook(tmp_path, cells))
    assert all(a.words == 0 and a.text == "" for a in answers)


def test_short_answer_lines_are_not_placeholders(tmp_path):
    lines = {1: "None of the features need a GPU.", 2: "N/A for batch jobs? No: log them too.",
             3: "Answer: git plus CI.", 4: "To do this, add replicas."}
    cells = [md(QUESTIONS)] + [md(f"### {q}. {TITLES[q]}\n{lines[q]}") for q in lines]
    assert [a.words for a in locate_answers(notebook(tmp_path, cells))] == [count_words(t) for t in lines.values()]


def test_handout_placeholders_without_headings(tmp_path):
    cells = [md(QUESTIONS)] + [md(f"*Your answer to question {q} here.*") for q in ANSWERS]
    assert all(a.words == 0 for a in locate_answers(notebook(tmp_path, cells)))


def test_always_four_entries(tmp_path):
    sub = notebook(tmp_path, [md("## Task 6: ML Ops"), md(f"### 2. Monitoring\n{ANSWERS[2]}")])
    answers = by_question(locate_answers(sub))
    assert answers[2].words > 0
    assert [answers[q].words for q in (1, 3, 4)] == [0, 0, 0]


# --- sample similarity --------------------------------------------------------------------------------------


@needs_seed
def test_handout_sample_answers_score_as_copies():
    sub = load(SEED)[0]
    answers = locate_answers(sub)
    assert all(a.words > 100 for a in answers)
    assert all(a.sample_similarity > 0.9 for a in answers), [a.sample_similarity for a in answers]
    # The question list above the samples (same cell) is not part of any answer.
    assert all("How would you" not in a.text for a in answers)


@needs_seed
def test_sample_pasted_into_another_notebook_scores_as_a_copy(tmp_path):
    samples = {a.question: a.text for a in locate_answers(load(SEED)[0])}
    cells = [md(QUESTIONS)] + [md(f"### {q}. {TITLES[q]}\n\n{samples[q]}") for q in samples]
    answers = locate_answers(notebook(tmp_path, cells))
    assert all(a.sample_similarity > 0.9 for a in answers)
    # Dropping every fifth word still reads as copied.
    for q, text in samples.items():
        words = text.split()
        edited = " ".join(w for i, w in enumerate(words) if i % 5)
        assert sample_similarity(edited, q) > 0.6


def test_reference_answers_are_not_similar_to_the_samples(reference_sub):
    answers = locate_answers(reference_sub)
    assert all(a.words > 150 for a in answers)
    assert all(a.sample_similarity < 0.3 for a in answers), [a.sample_similarity for a in answers]


def test_independent_short_answers_are_not_similar():
    assert all(sample_similarity(ANSWERS[q], q) < 0.3 for q in ANSWERS)
    assert sample_similarity("", 1) == 0.0


def test_fingerprints_hold_no_sample_text():
    raw = (Path(grader.mlops.__file__).parent / "data" / FINGERPRINT_FILE).read_text(encoding="utf-8")
    for word in ("Docker", "docker", "Kubernetes", "containerize", "Alertmanager", "retraining"):
        assert word not in raw


@needs_seed
def test_packaged_fingerprints_are_current(tmp_path):
    from importlib import util

    spec = util.spec_from_file_location("make_fingerprints", ROOT / "grader" / "data" / "make_fingerprints.py")
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / FINGERPRINT_FILE
    assert module.main([str(SEED), "--reference", str(REFERENCE), "-o", str(out)]) == 0
    packaged = json.loads((ROOT / "grader" / "data" / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    fresh = json.loads(out.read_text(encoding="utf-8"))
    # Provenance hashes change with any rebuild of the notebooks; the fingerprints must not.
    packaged.pop("source")
    fresh.pop("source")
    assert fresh == packaged, "re-run grader/data/make_fingerprints.py"


# --- batch similarity ---------------------------------------------------------------------------------------


def test_similar_pairs_flags_copied_answers():
    batch = {
        "ann": answers_from(ANSWERS),
        "bob": answers_from({**ANSWERS, 2: ANSWERS[2].replace("CloudWatch", "ELK")}),
        "cid": answers_from(TOOL_LISTS),
        "dee": answers_from({q: "" for q in ANSWERS}),
    }
    pairs = similar_pairs(batch, threshold=0.8)
    assert {(a, b, q) for a, b, q, _ in pairs} == {("ann", "bob", q) for q in (1, 2, 3, 4)}
    assert all(0.8 <= s <= 1.0 for *_, s in pairs)
    assert pairs[-1][2] == 2  # the edited answer is the least similar pair


# --- text analysis -------------------------------------------------------------------------------------------


def test_coverage_matches_whole_words_only():
    groups = {"drift": ["ks", "ks test", "psi"], "serving": ["api"], "ci": ["ci"]}
    assert coverage("It works; the pipeline capsized. Rapid deciding.", groups) == {
        "drift": [], "serving": [], "ci": []}
    assert coverage("A KS-test, PSI and a REST API; CI runs.", groups) == {
        "drift": ["ks", "ks test", "psi"], "serving": ["api"], "ci": ["ci"]}


def test_coverage_normalises_case_plural_and_suffixes():
    groups = {"alerting": ["alert"], "scale": ["autoscal*", "load balancer"], "tests": ["unit test"],
              "ab": ["a/b test"], "log": ["structured logging"]}
    text = "ALERTS go out; Autoscaling behind load-balancers; Unit Testing; A/B tests; structured logs."
    assert coverage(text, groups) == {"alerting": ["alert"], "scale": ["autoscal*", "load balancer"],
                                      "tests": ["unit test"], "ab": ["a/b test"], "log": ["structured logging"]}


def test_stem_agrees_on_inflections():
    assert stem("logging") == stem("logs") == stem("logged") == stem("log")
    assert stem("serialisation") == stem("serialization")
    assert stem("containers") == stem("container")
    assert stem("ks") == "ks"


def test_reasoning_signals():
    text = ("I would use batch scoring because the scores feed a daily report, which means no endpoint. "
            "If labels arrive late, then quality is judged after a window. Rather than paging, post to Slack.")
    found = reasoning_signals(text, specific=["label delay", "labels arrive", "view"])
    assert {"because", "which means", "if ... then", "rather than", "about: labels arrive"} <= set(found)
    assert "about: view" not in found
    assert reasoning_signals("Docker, Kubernetes, FastAPI, MLflow.") == []


def test_doctests():
    assert doctest.testmod(grader.mlops).failed == 0


# --- the check -------------------------------------------------------------------------------------------------


def test_reference_passes_all_four_checks(reference_sub, t6_params):
    ev = evidence(reference_sub, locate_answers(reference_sub))
    for q, params in t6_params.items():
        out = mlops_answer(ev, params)
        assert out.status == "pass" and out.fraction == pytest.approx(1.0), (q, out.detail, out.facts["parts"])
        assert out.cell == ev.mlops[q - 1].cells[0]
        assert out.facts["missing_groups"] == [] or len(out.facts["matched"]) >= params["min_groups"]
        assert out.facts["similarity"] < 0.3


def test_empty_answer_fails(tmp_path, t6_params):
    sub = notebook(tmp_path, [md(QUESTIONS)] + [md(f"*Your answer to question {q} here.*") for q in ANSWERS])
    ev = evidence(sub, locate_answers(sub))
    for params in t6_params.values():
        out = mlops_answer(ev, params)
        assert out.status == "fail" and out.fraction == 0.0 and out.facts["words"] == 0


def test_missing_mlops_evidence_fails(reference_sub, t6_params):
    out = mlops_answer(evidence(reference_sub, []), t6_params[1])
    assert out.status == "fail" and out.fraction == 0.0


def test_tool_list_scores_clearly_below_a_short_reasoned_answer(reference_sub, t6_params):
    tools = evidence(reference_sub, answers_from(TOOL_LISTS))
    reasoned = evidence(reference_sub, answers_from(ANSWERS))
    for q, params in t6_params.items():
        bare = mlops_answer(tools, params)
        good = mlops_answer(reasoned, params)
        # The list names nearly every concept, yet earns far less than an explained answer.
        assert len(bare.facts["matched"]) >= len(good.facts["matched"]) - 1
        assert bare.fraction < 0.35 and good.fraction > 0.75, (q, bare.fraction, good.fraction)
        assert good.fraction - bare.fraction > 0.4


@needs_seed
def test_handout_samples_get_partial_credit_but_similarity_is_reported(t6_params):
    sub = load(SEED)[0]
    ev = evidence(sub, locate_answers(sub))
    for params in t6_params.values():
        out = mlops_answer(ev, params)
        assert 0.4 < out.fraction < 1.0
        assert out.facts["similarity"] > 0.9


def test_messages_format_with_the_facts(reference_sub, t6_params):
    rubric = parse_rubric(RUBRIC)
    ev = evidence(reference_sub, answers_from({**ANSWERS, 4: ""}))
    for task, spec in rubric.checks():
        if task.id != 6:
            continue
        out = mlops_answer(ev, spec.params)
        template = spec.messages[out.status]
        assert "{" not in template.format(**out.facts)
        assert spec.hint
