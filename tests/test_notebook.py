"""The notebook's controls: the real ipywidgets of a run, clicked through their own handlers in this process,
and a real Jupyter kernel driven as a frontend drives it, with its widgets' messages and without ipywidgets."""

import json
import os
import queue
import re
import resource
import time

import pytest
from conftest import rows, wait_for

import toygan
from toygan.engine import notebook
from toygan.engine.runner import RunInterrupted

SETTINGS = {"view.frame_every": 50, "train.lr_schedule": "constant"}


@pytest.fixture
def start(monkeypatch, tmp_path, tiny_overrides):
    """`start(out)` starts a long run into folder `out` as inside a Jupyter kernel: the widgets are real,
    their messages to a frontend go nowhere. A run still training when the test ends is stopped."""
    monkeypatch.setattr(notebook, "in_notebook", lambda: True)
    started = []

    def start(out):
        started.append(toygan.run("two-gaussians", steps=100000, out=out, quiet=True, overrides={**tiny_overrides, **SETTINGS}))
        return started[-1]

    yield start
    for live in started:
        live.stop()


def paused_step(panel) -> int | None:
    found = re.search(r"paused at step (\d+)", panel.status.value)
    return int(found[1]) if found else None


def last_step(out) -> int:
    """The last step losses.csv records (0 before the first frame after step 0)."""
    return int(([{"step": 0}] + rows(out / "losses.csv"))[-1]["step"])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_buttons_pause_step_double_the_rates_and_stop_a_run_that_resumes(start, tmp_path):
    out = tmp_path / "run"
    live = start(out)
    assert isinstance(live, notebook.LiveRun)  # the call returned while the run trains
    panel = live.display
    wait_for(lambda: bytes(panel.image.value).startswith(b"\x89PNG"))

    panel.pause.value = True  # what a click on the toggle sets
    wait_for(lambda: paused_step(panel) is not None)
    paused_at = paused_step(panel)
    assert last_step(out) == paused_at  # the frame shown is the last recorded
    assert panel.pause.description == "resume" and not panel.buttons["step"].disabled
    before = cpu_seconds()
    time.sleep(1.0)
    assert last_step(out) == paused_at, "a step advanced while paused"
    assert cpu_seconds() - before < 0.3, "the paused run keeps a core busy"

    panel.buttons["step"].click()
    wait_for(lambda: paused_step(panel) == paused_at + 50)
    assert [int(r["step"]) for r in rows(out / "losses.csv")][-2:] == [paused_at, paused_at + 50]  # exactly one frame

    last = rows(out / "losses.csv")[-1]
    rate_g, rate_d = float(last["lr_generator"]), float(last["lr_discriminator"])
    panel.buttons["lr_double"].click()
    wait_for(lambda: f"G {2 * rate_g:.3g}, D {2 * rate_d:.3g}" in panel.status.value)
    panel.buttons["step"].click()
    wait_for(lambda: paused_step(panel) == paused_at + 100)
    row = rows(out / "losses.csv")[-1]
    assert int(row["step"]) == paused_at + 100
    assert (float(row["lr_generator"]), float(row["lr_discriminator"])) == (2 * rate_g, 2 * rate_d)
    doubled = [r for r in rows(out / "controls.csv") if r["action"] == "lr_double"]
    assert doubled == [
        {"step": str(paused_at + 50), "action": "lr_double", "value": f"lr_generator={2 * rate_g:.6g} lr_discriminator={2 * rate_d:.6g}"}
    ]
    # The rate sliders follow the run's rates, and setting D's alone changes D's alone, from the next step.
    assert panel.rates["lr_generator"].value == pytest.approx(2 * rate_g) and not panel.rates["lr_discriminator"].disabled
    panel.rates["lr_discriminator"].value = 3e-4  # what the slider sets when the user lets go of it
    wait_for(lambda: f"G {2 * rate_g:.3g}, D 0.0003" in panel.status.value)
    panel.buttons["step"].click()
    wait_for(lambda: paused_step(panel) == paused_at + 150)
    row = rows(out / "losses.csv")[-1]
    assert float(row["lr_generator"]) == 2 * rate_g and float(row["lr_discriminator"]) == pytest.approx(3e-4, rel=1e-6)
    assert [r["action"] for r in rows(out / "controls.csv")][-2:] == ["lr_discriminator", "step"]

    panel.buttons["stop"].click()
    with pytest.raises(RunInterrupted, match=f"stopped by the stop button at step {paused_at + 150} of 100000"):
        live.wait(timeout=60)
    assert "toygan resume" in panel.status.value and panel.buttons["step"].disabled and panel.pause.disabled
    assert panel.rates["lr_generator"].disabled
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == paused_at + 150 and summary["steered"] is True

    # Resumed in the notebook too: it goes on at the rates the checkpoint holds.
    resumed = toygan.resume(out, steps=paused_at + 250, quiet=True)
    assert isinstance(resumed, notebook.LiveRun)
    assert resumed.sample(10).shape == (10, 2)  # a Run's methods wait for the end
    after = [r for r in rows(out / "losses.csv") if int(r["step"]) > paused_at + 150]
    assert [int(r["step"]) for r in after] == [paused_at + 200, paused_at + 250]
    assert all(float(r["lr_generator"]) == 2 * rate_g and float(r["lr_discriminator"]) == pytest.approx(3e-4, rel=1e-6) for r in after)
    assert resumed.display.status.value == f"done: {out}"


def test_single_updates_panels_and_save_act_on_the_paused_frame(start, tmp_path):
    out = tmp_path / "run"
    live = start(out)
    panel = live.display
    panel.pause.value = True
    wait_for(lambda: paused_step(panel) is not None)
    paused_at = paused_step(panel)
    shown = wait_for(lambda: bytes(panel.image.value))
    for action in ("d_update", "g_update", "panels", "save"):
        panel.buttons[action].click()
    saved = wait_for(lambda: [r for r in rows(out / "controls.csv") if r["action"] == "save"])[0]
    controls = rows(out / "controls.csv")
    assert [(r["action"], int(r["step"])) for r in controls] == [
        ("pause", paused_at),
        ("d_update", paused_at),
        ("g_update", paused_at),
        ("panels", paused_at),
        ("save", paused_at),
    ]
    assert controls[1]["value"].startswith("loss=") and controls[2]["value"].startswith("loss=")
    assert (out / saved["value"]).read_bytes().startswith(b"\x89PNG")
    assert bytes(panel.image.value) != shown, "the frame did not show the single updates"
    assert paused_step(panel) == paused_at  # training steps did not advance

    panel.pause.value = False
    wait_for(lambda: "training" in panel.status.value and last_step(out) > paused_at)
    panel.buttons["stop"].click()
    with pytest.raises(RunInterrupted, match="stopped by the stop button"):
        live.wait(timeout=60)
    assert [r["action"] for r in rows(out / "controls.csv")][-2:] == ["pause", "stop"]


class Kernel:
    """A real Jupyter kernel, driven as a notebook frontend drives it (jupyter_client)."""

    def __init__(self, env: dict):
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", env={**os.environ, "MPLBACKEND": "Agg", **env})
        self.messages: list[dict] = []

    def execute(self, code: str, timeout: float = 300) -> str:
        """Run a cell; returns what it printed once the cell returned."""
        msg_id = self.client.execute(code)
        reply = self.client.get_shell_msg(timeout=timeout)
        assert reply["parent_header"]["msg_id"] == msg_id
        while True:  # until the kernel says the cell is done: all it printed came before
            message = self.client.get_iopub_msg(timeout=timeout)
            self.messages.append(message)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                if message["parent_header"].get("msg_id") == msg_id:
                    break
        output = [m for m in self.messages if m["parent_header"].get("msg_id") == msg_id]
        errors = [m["content"] for m in output if m["msg_type"] == "error"]
        assert reply["content"]["status"] == "ok", errors
        return "".join(m["content"]["text"] for m in output if m["msg_type"] == "stream")

    def receive(self) -> list[dict]:
        """The messages the kernel has sent so far (frames stream in while a run trains)."""
        while True:
            try:
                self.messages.append(self.client.get_iopub_msg(timeout=0.01))
            except queue.Empty:
                return self.messages

    def widget(self, model: str, description: str | None = None) -> str:
        """The comm id of the widget the kernel opened with this model (and description)."""
        opened = [m["content"] for m in self.receive() if m["msg_type"] == "comm_open"]
        state = lambda c: c["data"]["state"]
        return next(c["comm_id"] for c in opened if state(c)["_model_name"] == model and state(c).get("description") == description)

    def send(self, comm_id: str, data: dict) -> None:
        """What a frontend sends when a person clicks the widget."""
        self.client.shell_channel.send(self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def test_in_a_jupyter_kernel_the_cell_returns_and_the_frontends_clicks_steer_the_run(tmp_path, tiny_overrides, compile_cache):
    plain, out = tmp_path / "plain", tmp_path / "run"
    settings = {**tiny_overrides, **SETTINGS}
    kernel = Kernel(compile_cache)  # (its second run compiles nothing new)
    try:
        # Without ipywidgets: the frame updates in the cell, and the call returns the finished Run, as before.
        printed = kernel.execute(
            "import sys\nsys.modules['ipywidgets'] = None  # not installed\nimport toygan\n"
            f"plain = toygan.run('two-gaussians', steps=100, out={str(plain)!r}, quiet=True, overrides={settings!r})\n"
            "print(type(plain).__name__, plain.sample(5).shape)"
        )
        assert printed == "Run (5, 2)\n"
        shown = [m for m in kernel.messages if m["msg_type"] in ("display_data", "update_display_data")]
        assert len([m for m in shown if "image/png" in m["content"]["data"]]) == 3  # the frames of steps 0, 50 and 100
        assert not [m for m in kernel.messages if m["msg_type"] == "comm_open"]

        # With ipywidgets: the cell returns while the run trains, and the buttons' messages reach it.
        kernel.execute(
            "del sys.modules['ipywidgets']\n"
            f"live = toygan.run('two-gaussians', steps=100000, out={str(out)!r}, quiet=True, overrides={settings!r})"
        )
        image = kernel.widget("ImageModel")
        wait_for(lambda: any(m["content"].get("comm_id") == image for m in kernel.receive() if m["msg_type"] == "comm_msg"))
        kernel.send(kernel.widget("ToggleButtonModel", "pause"), {"method": "update", "state": {"value": True}, "buffer_paths": []})
        paused_at = int(wait_for(lambda: [r for r in rows(out / "controls.csv") if r["action"] == "pause"])[0]["step"])
        time.sleep(1.0)
        assert last_step(out) == paused_at, "a step advanced while paused"
        assert kernel.execute("print(live.display.status.value)").startswith(f"paused at step {paused_at}")

        kernel.send(kernel.widget("ButtonModel", "stop"), {"method": "custom", "content": {"event": "click"}})
        printed = kernel.execute("try:\n    live.wait(60)\nexcept toygan.ToyganError as error:\n    print(type(error).__name__, error)")
        assert printed.startswith(f"RunInterrupted stopped by the stop button at step {paused_at} of 100000")
    finally:
        kernel.close()
