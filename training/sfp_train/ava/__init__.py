"""AVA action detection: label maps, annotation and detection CSVs, the official frame-level mAP, and fine-tuning.

- `labelmap`: pbtxt label maps (`item { name id }` and the official `label { name label_id label_type }`).
- `annotations`: ground-truth, excluded-timestamp and detection CSVs, read and written in the official format.
- `evaluation`: frame-level mAP@0.5 IoU, reproducing ActivityNet's `get_ava_performance.py`.
- `plots`: per-class AP as a bar chart PNG.
- `transforms`: frames and person boxes transformed together (training jitter/crop/flip, test resize and pad).
- `data`: keyframe tables from the CSVs and the Ray Data loader of keyframe windows, boxes and multi-hot labels.
- `detection`: what the training loop learns (`DetectionTask`: BCE per action over the boxes, val frame mAP).
- `recipe`: the fine-tuning recipe (`AvaRecipe`: data, model, optimiser, `init.from_model`).
- `finetune`: the workflow: backbone transfer, Ray Train + DeepSpeed, evaluation, MLflow, registration.

Importing this package imports none of its modules.
"""
