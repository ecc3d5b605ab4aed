"""Turn profile measurements into advice; every finding quotes the numbers that triggered it."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Finding:
    kind: str  # decode-bound, postprocess-heavy, inference-bound, underused-cores, ...
    evidence: str
    advice: str

    def to_dict(self) -> dict:
        return asdict(self)


def diagnose(serial_ms: dict[str, float], pipeline: dict, system: dict, batch: int, workers: int,
             backend: str, conf: float, max_det: int) -> list[Finding]:
    """Rules over the serial per-stage costs, the pipelined run's queue waits and the CPU view."""
    out: list[Finding] = []
    wall = pipeline["wall_s"] or 1e-9
    waits = {q["name"]: q for q in pipeline["queues"]}
    infer_idle = waits["batches"]["empty_s"] / wall  # inference thread starved of input
    post_blocked = waits["outputs"]["full_s"] / wall  # inference threads held up by the consumer (writing results)
    decode_ms = serial_ms.get("read", 0) + serial_ms.get("decode", 0) + serial_ms.get("letterbox", 0)
    infer_ms = serial_ms.get("inference", 0)
    post_ms = serial_ms.get("postprocess", 0) + serial_ms.get("write", 0)  # both scale with detections per image
    total = sum(serial_ms.values()) or 1e-9

    if infer_idle > 0.25 and decode_ms / max(workers, 1) > infer_ms:
        out.append(Finding(
            "decode-bound",
            f"inference waited for decoded images {infer_idle:.0%} of the run; read+decode+letterbox costs "
            f"{decode_ms:.1f} ms/image on {workers} worker(s) = {decode_ms / workers:.1f} ms/image of capacity, "
            f"more than inference's {infer_ms:.1f} ms/image",
            "raise --workers (up to the core count), feed smaller images (huge JPEGs cost far more to decode than "
            "the network needs at imgsz), or use a faster JPEG decoder / storage",
        ))
    if post_ms / total > 0.2 or post_blocked > 0.2:
        out.append(Finding(
            "postprocess-heavy",
            f"NMS, rescaling and writing results take {post_ms:.1f} ms/image ({post_ms / total:.0%} of the serial time); "
            f"inference was "
            f"blocked on postprocessing {post_blocked:.0%} of the run (conf={conf}, max_det={max_det})",
            "raise --conf (fewer candidate boxes reach NMS) and lower --max-det; conf 0.001 is for mAP evaluation, "
            "0.25 for deployment",
        ))
    if infer_ms / total > 0.6:
        out.append(Finding(
            "inference-bound",
            f"the network takes {infer_ms:.1f} ms/image, {infer_ms / total:.0%} of the serial time (backend "
            f"{backend}, batch {batch})",
            "try a lower precision (compare with `yolopt bench --precisions fp32,bf16` where the CPU has bf16, or "
            "an INT8 model from `yolopt quantize`), "
            + (f"another backend (--backend {' or '.join(b for b in ('openvino', 'onnxruntime') if b != backend)}), "
               if backend != "tensorrt" else "") + "or a smaller --imgsz; on a GPU, a larger --batch",
        ))
    mean_cpu = system.get("cpu_mean_percent")
    if mean_cpu is not None and mean_cpu < 60:
        out.append(Finding(
            "underused-cores",
            f"mean CPU use was {mean_cpu:.0f}% over {system.get('cores')} cores (per core: {system.get('per_core_percent')})",
            "raise --workers or the backend's thread count; on a busy machine another process may hold the cores",
        ))
    if not out:
        out.append(Finding("balanced", "no stage dominates (serial shares: "
                           + ", ".join(f"{k} {v / total:.0%}" for k, v in serial_ms.items() if v) + ")",
                           "nothing obvious to change; compare backends with `yolopt bench`"))
    return out
