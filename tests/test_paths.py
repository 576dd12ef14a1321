"""Tests for srcli.io.paths: input expansion and output planning."""

import pytest

from srcli.errors import UsageError
from srcli.io.paths import Job, check_report_apart, expand_inputs, plan_jobs


@pytest.fixture()
def tree(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for rel in ("in/a.png", "in/b.jpg", "in/sub/c.png", "in/notes.txt"):
        (tmp_path / rel).write_bytes(b"x")
    return tmp_path


def test_folder_lists_images_only(tree):
    found = expand_inputs([str(tree / "in")])
    assert [p.split("/")[-1] for p, _ in found] == ["a.png", "b.jpg"]
    assert len(expand_inputs([str(tree / "in")], recursive=True)) == 3


def test_folder_with_other_suffixes(tree):
    (tree / "in" / "pts.npy").write_bytes(b"x")
    found = expand_inputs([str(tree / "in")], suffixes={".npy", ".txt"})
    assert [p.split("/")[-1] for p, _ in found] == ["notes.txt", "pts.npy"]


def test_glob_and_missing(tree):
    assert len(expand_inputs([str(tree / "in" / "**" / "*.png")])) == 2
    with pytest.raises(UsageError, match="matches no file"):
        expand_inputs([str(tree / "*.gif")])
    with pytest.raises(UsageError, match="input not found"):
        expand_inputs([str(tree / "nope.png")])


def test_empty_folder_hints_recursive(tree):
    (tree / "only_sub" / "deep").mkdir(parents=True)
    (tree / "only_sub" / "deep" / "x.png").write_bytes(b"x")
    with pytest.raises(UsageError, match="use -r"):
        expand_inputs([str(tree / "only_sub")])


def test_single_file_to_file_and_next_to_input(tree):
    src = str(tree / "in" / "a.png")
    assert plan_jobs([src], str(tree / "o.png"), suffix="_x2") == [Job(src, str(tree / "o.png"))]
    assert plan_jobs([src], None, suffix="_x2", fmt="tiff")[0].dest == str(tree / "in" / "a_x2.tif")


def test_recursive_mirrors_tree(tree):
    jobs = plan_jobs([str(tree / "in")], str(tree / "out"), suffix="_s", recursive=True)
    assert sorted(j.dest for j in jobs) == sorted(str(tree / "out" / r) for r in ("a_s.png", "b_s.jpg", "sub/c_s.png"))


def test_output_folder_that_is_a_file(tree):
    (tree / "file").write_bytes(b"x")
    with pytest.raises(UsageError, match="is a file"):
        plan_jobs([str(tree / "in")], str(tree / "file"), suffix="_s")


def test_never_overwrites_input(tree):
    src = str(tree / "in" / "a.png")
    with pytest.raises(UsageError, match="is the input itself"):
        plan_jobs([src], src, suffix="")
    with pytest.raises(UsageError, match="is the input itself"):
        plan_jobs([src], None, suffix="")


def test_collisions_are_refused(tree):
    (tree / "other").mkdir()
    (tree / "other" / "a.png").write_bytes(b"x")
    with pytest.raises(UsageError, match="would both write"):
        plan_jobs([str(tree / "in" / "a.png"), str(tree / "other" / "a.png")], str(tree / "out"), suffix="")


def test_stdio_rules(tree):
    src = str(tree / "in" / "a.png")
    assert plan_jobs(["-"], "-", suffix="", fmt="png") == [Job("-", "-")]
    with pytest.raises(UsageError, match="needs --format"):
        plan_jobs([src], "-", suffix="")
    with pytest.raises(UsageError, match="needs -o"):
        plan_jobs(["-"], None, suffix="")
    with pytest.raises(UsageError, match="cannot be combined"):
        plan_jobs(["-", src], "out", suffix="")
    with pytest.raises(UsageError, match="exactly one input"):
        plan_jobs([str(tree / "in")], "-", suffix="", fmt="png")
    with pytest.raises(UsageError, match="unknown --format"):
        plan_jobs([src], None, suffix="_x", fmt="gif")


def test_outputs_never_replace_files_that_options_read(tree):
    image, mask = str(tree / "in" / "a.png"), str(tree / "in" / "b.jpg")
    with pytest.raises(UsageError, match=r"output .*b\.jpg is the --mask file; srcli never overwrites an input"):
        plan_jobs([image], mask, suffix="_x", reads={"--mask": mask})
    (tree / "in" / "c.png").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"output .*c\.png is the --reference file"):
        plan_jobs([str(tree / "in" / "sub")], str(tree / "in"), suffix="", fmt="png",
                  reads={"--reference": str(tree / "in" / "c.png")})
    # names that are no file (a registry model, a missing path) are not compared
    assert plan_jobs([image], str(tree / "liif"), suffix="", reads={"--weights": "liif"})[0].dest == str(tree / "liif")


def test_a_report_is_no_other_file_of_the_run(tree):
    image, mask, out = str(tree / "in" / "a.png"), str(tree / "in" / "b.jpg"), str(tree / "out.png")
    for report, what in [(image, "input"), (out, "output"), (mask, "the --mask file")]:
        with pytest.raises(UsageError, match=f"--report {report} is also {what}"):
            plan_jobs([image], out, suffix="", reads={"--mask": mask}, report=report)
    assert plan_jobs([image], out, suffix="", report=str(tree / "r.json"))[0].dest == out
    with pytest.raises(UsageError, match="--report r.csv is also output r.csv"):
        check_report_apart("r.csv", [("output r.csv", "./r.csv")])
    check_report_apart("-", [("input -", "-")])  # stdin/stdout are no files


def test_no_job_writes_another_jobs_input(tree):
    (tree / "in" / "a_x2.png").write_bytes(b"x")
    first, second = str(tree / "in" / "a.png"), str(tree / "in" / "a_x2.png")
    with pytest.raises(UsageError, match=r"output .*a_x2\.png of .*a\.png is also an input of this run"):
        plan_jobs([first, second], None, suffix="_x2", overwrite=True)
    assert len(plan_jobs([first, second], None, suffix="_x2")) == 2  # without --overwrite that job stops alone
    assert len(plan_jobs([first, second], str(tree / "out"), suffix="_x2", overwrite=True)) == 2
