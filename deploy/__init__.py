"""Deployment: the local runner (deploy.local), Kubernetes manifests and sizing notes."""
