"""Pure-numpy diffusion maths. Nothing here may import Qt, torch or onnxruntime."""
