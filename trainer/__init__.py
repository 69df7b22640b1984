"""DPO harness on TRL: `prefdata train --data DIR --config CFG.yaml`."""
