"""Data layer: schema, manifests, loaders, transforms, collate and built-in datasets."""
