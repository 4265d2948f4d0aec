"""Find the speaker's face in sampled frames, track it across them, and crop it with a margin.

The detector is OpenCV's frontal-face Haar cascade (`haarcascade_frontalface_default.xml`), which ships inside the
`opencv-python-headless` wheel (`cv2.data.haarcascades`), so face cropping works offline on a fresh machine with
no model download. OpenCV 5 removed `CascadeClassifier`; the package pins `opencv-python-headless<5`.

Detection runs on a grey copy downscaled to `detection_width` pixels (about 12 ms a frame at 480 px), the crop is
taken from the full-resolution frame. Across the `T` frames of a clip the largest face is tracked: later frames
follow the detection that overlaps the tracked box most, and the box is smoothed (an exponential moving average of
centre and size) so the crop does not jitter. A frame where nothing is detected reuses the last box (frames
before the first detection use the first box); a clip with no face at all falls back to a centre crop and is
flagged with `face_found=False`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["FaceCropResult", "FaceCropper", "crop_largest_face"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"

_local = threading.local()
# While tracking, the search region is scaled so the face is about this many pixels wide: large enough for the
# cascade's 24-pixel window to find it reliably, small enough to search in a few milliseconds. Our choice.
_TRACK_FACE_PX = 80.0


def _cascade() -> cv2.CascadeClassifier:
    """Load the bundled cascade once per thread (OpenCV classifiers are not safe to share across threads)."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(
                f"{path}: OpenCV could not load its bundled face cascade; reinstall opencv-python-headless<5"
            )
        _local.cascade = cascade
    return cascade


@dataclass
class FaceCropResult:
    """Face crops of one clip.

    Attributes:
        crops: `(T, h, w, 3)` uint8 RGB, each crop resized to the cropper's `output_size`.
        boxes: `(T, 4)` int64 `(x0, y0, x1, y1)` crop boxes in full-frame pixels (margin included, exclusive end).
        detected: `(T,)` bool, whether a face was detected in each frame (False: the box was carried over).
        face_found: Whether any frame had a face; False means the crops are centre crops.
    """

    crops: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray
    face_found: bool

    @property
    def detection_rate(self) -> float:
        """Fraction of frames with a detected face."""
        return float(self.detected.mean()) if self.detected.size else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class FaceCropper:
    """Detect, track and crop the largest face in each frame of a clip.

    Args:
        margin: Context kept around the detected face on each side, as a fraction of the face box size. Our
            choice: 0.2 (brow, chin and cheeks stay in the crop; Haar boxes are tight around eyes and mouth).
        output_size: Side of the square output crops in pixels, or `(height, width)`.
        detection_width: Width the frame is downscaled to for detection, pixels (480: faces of more than ~5% of
            the frame width are still found, at about 12 ms a frame).
        smoothing: Weight of the previous box in the moving average of box centre and size, in [0, 1); 0 turns
            smoothing off. Our choice: 0.5.
        min_face_fraction: Smallest face searched, as a fraction of the frame's shorter side (speed and fewer
            false positives). Our choice: 0.08.
        scale_factor: Scale step of the cascade's image pyramid (OpenCV's `scaleFactor`).
        min_neighbors: Overlapping detections a face needs (OpenCV's `minNeighbors`; higher means fewer false
            positives).
        square: Make crop boxes square (the face models take square inputs), centred on the face.
    """

    def __init__(
        self,
        margin: float = 0.2,
        output_size: int | tuple[int, int] = 112,
        detection_width: int = 480,
        smoothing: float = 0.5,
        min_face_fraction: float = 0.08,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        square: bool = True,
    ) -> None:
        if margin < 0:
            raise ValueError(f"margin must be >= 0 (a fraction of the face size), got {margin}")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if detection_width < 32:
            raise ValueError(f"detection_width must be at least 32 pixels, got {detection_width}")
        self.margin = float(margin)
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.detection_width = int(detection_width)
        self.smoothing = float(smoothing)
        self.min_face_fraction = float(min_face_fraction)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.square = bool(square)

    def detect(self, frame: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
        """Detect faces in one `(H, W, 3)` uint8 RGB frame; returns `(N, 4)` float `(x0, y0, x1, y1)` boxes.

        With `near` (the face box tracked from the previous frame, full-frame pixels) only a region of twice its
        size around it is searched, scaled so the face is about `_TRACK_FACE_PX` pixels, for faces of 0.6x to
        1.6x its size: about ten times cheaper than a full search. If nothing is found there, the whole frame is
        searched, first for large faces (a quarter of the shorter side or more: the common case in emotion
        corpora, and cheap), then down to `min_face_fraction`.
        """
        height, width = frame.shape[:2]
        grey_full = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        cascade = _cascade()
        if near is not None:
            side = float(max(near[2] - near[0], near[3] - near[1]))
            x0, y0 = int(max(0, near[0] - side / 2)), int(max(0, near[1] - side / 2))
            x1, y1 = int(min(width, near[2] + side / 2)), int(min(height, near[3] + side / 2))
            scale = min(1.0, _TRACK_FACE_PX / side)
            region = grey_full[y0:y1, x0:x1]
            if scale < 1.0:
                size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
                region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
            smallest, largest = max(20, int(0.6 * side * scale)), int(1.6 * side * scale) + 1
            if min(region.shape) > smallest:
                faces = cascade.detectMultiScale(
                    cv2.equalizeHist(region),
                    scaleFactor=self.scale_factor,
                    minNeighbors=self.min_neighbors,
                    minSize=(smallest, smallest),
                    maxSize=(largest, largest),
                )
                if len(faces):
                    return self._to_boxes(np.asarray(faces, dtype=np.float64), scale, x0, y0)
        scale = min(1.0, self.detection_width / width)
        grey = grey_full
        if scale < 1.0:
            grey = cv2.resize(grey, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        shorter = min(grey.shape)
        for fraction in dict.fromkeys((max(0.25, self.min_face_fraction), self.min_face_fraction)):
            min_side = max(20, int(shorter * fraction))
            faces = cascade.detectMultiScale(
                grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
            )
            if len(faces):
                return self._to_boxes(np.asarray(faces, dtype=np.float64), scale, 0, 0)
        return np.zeros((0, 4), dtype=np.float64)

    @staticmethod
    def _to_boxes(faces: np.ndarray, scale: float, x0: int, y0: int) -> np.ndarray:
        """OpenCV `(x, y, w, h)` boxes in a region scaled by `scale` and offset by `(x0, y0)` -> full-frame corners."""
        faces = faces / scale
        x, y = faces[:, 0] + x0, faces[:, 1] + y0
        return np.stack([x, y, x + faces[:, 2], y + faces[:, 3]], axis=1)

    def update(self, tracked: np.ndarray | None, faces: np.ndarray) -> np.ndarray | None:
        """Advance the tracked face box by one frame's detections `(N, 4)`; returns the new box (or `tracked`).

        The first face tracked is the largest; afterwards the detection overlapping the tracked box most is
        followed (the largest again if none overlaps, i.e. the face was lost), and centre and size are smoothed.
        """
        if len(faces) == 0:
            return tracked
        areas = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        if tracked is None:
            return faces[int(np.argmax(areas))].copy()
        overlaps = [_iou(face, tracked) for face in faces]
        best = int(np.argmax(overlaps))
        choice = faces[best] if overlaps[best] > 0.1 else faces[int(np.argmax(areas))]
        # Smooth centre and size, not corners, so the box does not drift when its size changes.
        centre = self.smoothing * _centre(tracked) + (1 - self.smoothing) * _centre(choice)
        size = self.smoothing * _size(tracked) + (1 - self.smoothing) * _size(choice)
        return np.concatenate([centre - size / 2, centre + size / 2])

    def track(self, frames: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Detect and track the face through `(T, H, W, 3)` frames.

        Returns:
            `(T, 4)` float face boxes in full-frame pixels (None when no frame has a face) and `(T,)` bool flags
            saying which frames had a detection. Frames without one carry the last box over; frames before the
            first detection take the first box.
        """
        num = len(frames)
        boxes = np.zeros((num, 4), dtype=np.float64)
        detected = np.zeros(num, dtype=bool)
        tracked: np.ndarray | None = None
        for t, frame in enumerate(frames):
            faces = self.detect(frame, near=tracked)
            detected[t] = len(faces) > 0
            tracked = self.update(tracked, faces)
            if tracked is not None:
                boxes[t] = tracked
        if tracked is None:
            return None, detected
        first = int(np.argmax(detected))
        boxes[:first] = boxes[first]
        return boxes, detected

    def crop_box(self, face: np.ndarray, height: int, width: int) -> np.ndarray:
        """Expand a face box by the margin (square if asked), shifted to lie inside a `height` x `width` frame."""
        centre, size = _centre(face), _size(face) * (1 + 2 * self.margin)
        if self.square:
            size = np.full(2, min(size.max(), height, width))
        else:
            size = np.minimum(size, [width, height])
        size = np.round(size).astype(np.int64)
        lo = np.round(centre - size / 2).astype(np.int64)
        lo = np.clip(lo, 0, [width - size[0], height - size[1]])
        return np.concatenate([lo, lo + size])

    def centre_box(self, height: int, width: int) -> np.ndarray:
        """Return the crop used when no face is found: the largest centred square (whole frame if not square)."""
        if not self.square:
            return np.array([0, 0, width, height], dtype=np.int64)
        side = min(height, width)
        x0, y0 = (width - side) // 2, (height - side) // 2
        return np.array([x0, y0, x0 + side, y0 + side], dtype=np.int64)

    def __call__(self, frames: np.ndarray) -> FaceCropResult:
        """Crop the tracked face from `(T, H, W, 3)` uint8 RGB frames into `(T, h, w, 3)` crops."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(
                f"frames must be a (T, H, W, 3) uint8 RGB array, got shape {frames.shape} and dtype {frames.dtype}"
            )
        num, height, width = frames.shape[:3]
        faces, detected = self.track(frames)
        if faces is None:
            boxes = np.repeat(self.centre_box(height, width)[None], num, axis=0)
        else:
            boxes = np.stack([self.crop_box(face, height, width) for face in faces])
        out_h, out_w = self.output_size
        crops = np.empty((num, out_h, out_w, 3), dtype=np.uint8)
        for t, (x0, y0, x1, y1) in enumerate(boxes):
            region = frames[t, y0:y1, x0:x1]
            shrinking = region.shape[0] > out_h or region.shape[1] > out_w
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            crops[t] = cv2.resize(region, (out_w, out_h), interpolation=interpolation)
        return FaceCropResult(crops=crops, boxes=boxes, detected=detected, face_found=faces is not None)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _size(box: np.ndarray) -> np.ndarray:
    return np.array([box[2] - box[0], box[3] - box[1]])


def crop_largest_face(frames: np.ndarray, output_size: int | tuple[int, int] = 112, **kwargs) -> FaceCropResult:
    """Crop the largest tracked face from `(T, H, W, 3)` uint8 RGB frames (`FaceCropper(**kwargs)` once)."""
    return FaceCropper(output_size=output_size, **kwargs)(frames)
