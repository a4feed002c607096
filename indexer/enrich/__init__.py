"""What follows a commit: the stages that enrich committed articles (near-duplicate groups, stories)."""
