"""polymodal.report: one block model of a report, rendered to Markdown and to HTML; plots."""
