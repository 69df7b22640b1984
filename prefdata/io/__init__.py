"""Reading and writing preference data: importers per format, the dataset directory, exporters.

    from prefdata.io.importer import import_dataset      # `prefdata import`
    from prefdata.io.export import export_dataset        # `prefdata export`
    from prefdata.io.dataset_dir import write_dataset_dir, read_dataset_dir
    from prefdata.io.ids import prompt_id

Importers (`hh_rlhf`, `llamafactory`, `trl`, `ultrafeedback`; `importer.IMPORTERS` lists
them) turn a source file into an `ImportResult`: DPOExample-shaped rows plus a rejects
ledger with one row per dropped input row (kept + rejected = input, always). `rows` is the
one file reader (importers, the prompts stage, decontamination), `checks` the row checks
derived from `prefdata.records`, `common` the importer interface and its collector.
"""
