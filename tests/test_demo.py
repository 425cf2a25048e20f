"""``python -m fashion_tf.demo`` end to end on a small shop: every stage runs and the
timings are printed and written."""
from __future__ import annotations

import json

from fashion_tf import demo

STAGES = ["generate shop", "masks", "train", "evaluate", "recommend", "export"]


def test_demo_runs_every_stage_and_records_its_timings(tmp_path, capsys):
    run, export = tmp_path / "runs" / "demo_tiny", tmp_path / "export"
    args = ["--model", "tiny", "--items", "40", "--epochs", "1", "--run", str(run), "--export", str(export)]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    timings = json.loads((run / demo.TIMINGS_FILE).read_text())
    assert list(timings["stages"]) == STAGES
    for name, stage in timings["stages"].items():
        assert stage["wall_s"] > 0 and stage["cpu_s"] >= 0, name
        assert f"    {name}: " in out
    assert timings["total"]["wall_s"] >= sum(s["wall_s"] for s in timings["stages"].values()) - 0.1
    assert "timings (wall/CPU s): generate shop " in out and "demo done in" in out
    assert (run / "recommendations.png").stat().st_size > 0
    assert (export / "fashion" / "1" / "saved_model.pb").exists()
    assert (export / "fashion_scann" / "1" / "saved_model.pb").exists()
    config = json.loads((run / "config.json").read_text())
    assert (config["epochs"], config["lr_schedule"], config["image_size"]) == (1, "plateau", 64)



def test_cpu_demo_trains_v5s_design_on_efficientnetb0():
    assert (demo.demo_model(on_gpu=True), demo.demo_model(on_gpu=False)) == ("v5", "v5_b0")
    from fashion_tf import zoo

    v5, v5_b0 = zoo.get_entry("v5"), zoo.get_entry("v5_b0")
    assert v5_b0.config == {**v5.config, "backbone": "efficientnetb0"}
    assert (v5_b0.background_p, v5_b0.augmentation) == (v5.background_p, v5.augmentation)
