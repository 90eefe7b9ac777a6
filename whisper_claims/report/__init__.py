"""The records and what is made of them: claims.json, merging, baselines, markdown, badges, report.html,
the published site and the generated findings pages."""
