"""`make bench` (`benchmarks/run_all.py`) appends runs and never erases
recorded ones."""

from benchmarks import run_all


def fake_runs(monkeypatch, sections):
    monkeypatch.setattr(
        run_all, "run_benchmark",
        lambda name, arguments, markdown: (sections[name], name != "overhead"))


def test_runs_are_appended_and_the_page_keeps_its_content(tmp_path,
                                                          monkeypatch):
    results, runs = tmp_path / "results.md", tmp_path / "runs"
    runs.mkdir()
    page = ("# Results\n\nA pooled table written by hand.\n\n"
            "## Latest `make bench` runs\n\n<!-- run_all:begin -->\n"
            "<!-- run_all:end -->\n\n## Serving soak\n\nKept.\n")
    results.write_text(page)
    recorded = "# ops runs\n\n## An old run\n\n| a | 1.00 |\n"
    (runs / "ops_bench.md").write_text(recorded)

    fake_runs(monkeypatch, {"ops_bench": "## Ops, new\n\n| a | 2.00 |",
                            "overhead": "## Overhead, new\n\nfailed"})
    argv = ["--only", "ops_bench", "overhead", "--results", str(results),
            "--runs-dir", str(runs)]
    assert run_all.main(argv) == 1  # overhead "failed"

    ops = (runs / "ops_bench.md").read_text()
    assert ops.startswith(recorded)
    assert ops.rstrip().endswith("## Ops, new\n\n| a | 2.00 |")
    assert "## Overhead, new" in (runs / "overhead.md").read_text()
    text = results.read_text()
    head, block = text.split("<!-- run_all:begin -->")
    block, tail = block.split("<!-- run_all:end -->")
    assert head == page.split("<!-- run_all:begin -->")[0]
    assert tail == "\n\n## Serving soak\n\nKept.\n"
    lines = block.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("- `ops_bench`:") and ", ok," in lines[0]
    assert "(runs/ops_bench.md)" in lines[0]
    assert lines[1].startswith("- `overhead`:") and "FAILED" in lines[1]

    fake_runs(monkeypatch, {"ops_bench": "## Ops, newer\n\n| a | 3.00 |",
                            "overhead": ""})
    assert run_all.main(["--only", "ops_bench", "--results", str(results),
                         "--runs-dir", str(runs)]) == 0
    ops = (runs / "ops_bench.md").read_text()
    assert ops.startswith(recorded)
    assert ops.index("## Ops, new\n") < ops.index("## Ops, newer")
    block = results.read_text().split("<!-- run_all:begin -->")[1]
    assert block.count("- `ops_bench`:") == 1
    assert "- `overhead`:" in block


def test_a_page_without_the_block_gets_one_appended(tmp_path, monkeypatch):
    results = tmp_path / "results.md"
    results.write_text("# Old page\n\n## A run\n\n| x |\n")
    fake_runs(monkeypatch, {"ops_bench": "## Ops"})
    run_all.main(["--only", "ops_bench", "--results", str(results),
                  "--runs-dir", str(tmp_path / "runs")])
    text = results.read_text()
    assert text.startswith("# Old page\n\n## A run\n\n| x |\n")
    assert "<!-- run_all:begin -->\n- `ops_bench`:" in text
