"""Deployment: the local runner (deploy.local), manifests and their check (deploy.check), sizing."""
