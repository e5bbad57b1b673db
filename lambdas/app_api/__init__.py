"""App API Lambda: upload grants and commits for the app's Cognito identities (HTTP API, IAM auth)."""
