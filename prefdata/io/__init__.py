"""Reading and writing preference data: importers per format, the dataset directory, exporters.

    from prefdata.io.importer import import_dataset      # `prefdata import`
    from prefdata.io.export import export_dataset        # `prefdata export`
    from prefdata.io.dataset_dir import write_dataset_dir, read_dataset_dir
    from prefdata.io.ids import prompt_id

Readers (`hh_rlhf`, `llamafactory`, `trl`, `ultrafeedback`) turn a source file into an
`ImportResult`: DPOExample-shaped rows plus a rejects ledger with one row per dropped input
row (kept + rejected = input, always). `common` holds the line-numbered file reading and the
checks they share.
"""
