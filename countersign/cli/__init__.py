"""The countersign command: submit, wait, status, audit and reports."""
