"""Configuration: the deployment file, layered resolution, placement, manifests."""
