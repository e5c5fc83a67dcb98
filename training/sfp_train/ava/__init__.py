"""AVA action detection: label maps, annotation and detection CSVs, and the official frame-level mAP.

- `labelmap`: pbtxt label maps (`item { name id }` and the official `label { name label_id label_type }`).
- `annotations`: ground-truth, excluded-timestamp and detection CSVs, read and written in the official format.
- `evaluation`: frame-level mAP@0.5 IoU, reproducing ActivityNet's `get_ava_performance.py`.
- `plots`: per-class AP as a bar chart PNG.

Importing this package imports none of its modules.
"""
