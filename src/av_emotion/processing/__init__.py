"""Media decoding, face cropping, and the multimodal processor shared by training and inference."""
