"""Pipeline stages, in data-flow order: prompts -> sample -> label -> pair -> filter -> export.

`STAGES` is the one ordered list the recipe model (prefdata/recipe.py) and the runner
(prefdata/runner.py) are derived from; a stage class declares its name, config model,
input and output artifacts and accounting unit (prefdata/stages/base.py). A new stage is
one module plus one entry here.
"""

from prefdata.stages.export import ExportStage
from prefdata.stages.filter import FilterStage
from prefdata.stages.label import LabelStage
from prefdata.stages.pair import PairStage
from prefdata.stages.prompts import PromptsStage
from prefdata.stages.sample import SampleStage

STAGES = (PromptsStage, SampleStage, LabelStage, PairStage, FilterStage, ExportStage)
