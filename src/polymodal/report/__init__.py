"""polymodal.report: Markdown, HTML and plots of runs and benchmarks."""
