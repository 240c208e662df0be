"""yujing.ingest: readers, data contracts, units and storage for every source.

Import direction: ``ingest`` depends on nothing else of yujing and never imports Airflow.
"""
