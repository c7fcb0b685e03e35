"""Workflow steps: what each Step Functions task does, from Prepare to the verdict."""
