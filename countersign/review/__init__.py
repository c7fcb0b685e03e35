"""The review desk: signed links, the review page and email, decisions and their authority."""
