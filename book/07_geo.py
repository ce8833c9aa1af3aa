# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Grounding in a map
#
# **Overview.** A grounding model answers one image of a few hundred pixels with a box in
# that image's pixels. A remote-sensing user has a GeoTIFF of thousands of pixels in a map
# projection and wants a geometry in that projection, ready for QGIS. This chapter closes the
# gap: the raster is cut into overlapping windows and read one window at a time. The sentence
# is grounded in every window, in batches. Each answer is scored by the model's own
# confidence (the mean log-probability of its answer tokens). The best answers are mapped
# through the window offset and the geotransform to polygons in the raster's coordinate
# reference system, and written as GeoJSON. The same steps run from the command line as
# `rsground ground`. The steps are tested first on rasters whose target is known, then on
# two real rasters: an aerial image whose trees are labelled and a Landsat scene with a
# nodata border.
#
# Choosing a window by the answer's log-probability, and merging overlapping answers, is
# **our design**: the paper grounds whole benchmark images and does not say how to ground
# in a large raster.
#
# **Prerequisites.** The answer contract and the coordinate rules ([design page](design.md));
# batched prediction ([Evaluation](05_evaluation.ipynb)); the tiny base checkpoint
# ([CoT-SFT](03_cot_sft.ipynb)).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "smoke"  # str: parameter profile of this run (params/<profile>.yml); names the folder runs/<profile>/
runs_root = ""  # str: folder for run artefacts; "" means $RSGROUND_RUNS, else <project>/runs
data_root = ""  # str: folder holding the real rasters (aerial_boxes/, geotiff/); "" means $RSGROUND_DATA (may be unset)
seed = 0  # int ≥ 0: seed of the synthetic rasters
checkpoint = ""  # str: the model: "" means the committed tiny base; a checkpoint of this run by name ("CoT-SFT", "RFT"); or a folder / hub id
prompt_style = ""  # str in {"", compact, full}: "" means the checkpoint's own (the style it was trained in, recorded in its config.json; the tiny models: compact); "compact" (image + expression) or "full" (the project's system prompt) forces one
max_new_tokens = 24  # int ≥ 1: answer budget in tokens per window
batch_size = 32  # int ≥ 1: windows per generation batch
top_k = 3  # int ≥ 1: answers kept per sentence after merging overlaps
merge_iou = 0.5  # float in [0, 1]: IoU at which two windows' answers merge into one
num_rasters = 64  # int ≥ 1: synthetic rasters, one known target each
raster_size = 192  # int ≥ 1: side of each synthetic raster, pixels (at least image_size)
image_size = 64  # int ≥ 1: side of the scene placed in each synthetic raster, pixels
tile = 64  # int ≥ 1: window side on the synthetic rasters, pixels (the scene size: what the model was trained on)
overlap = 0.5  # float in [0, 1): share of a window its neighbour shares, synthetic rasters
aerial_tile = 128  # int ≥ 1: window side on the aerial image (0.1 m pixels), pixels
aerial_overlap = 0.5  # float in [0, 1): window overlap on the aerial image
landsat_tile = 128  # int ≥ 1: window side on the Landsat scene (300 m pixels), pixels
landsat_overlap = 0.2  # float in [0, 1): window overlap on the Landsat scene
min_valid = 0.25  # float in [0, 1]: windows with a smaller share of valid (not nodata) pixels are skipped
landsat_sentence = "the lake"  # str: a sentence grounded in the Landsat scene (no labelled answer exists)
gallery_size = 4  # int ≥ 1: synthetic rasters drawn

# %%
import geopandas as gpd
import pandas as pd
from myst_nb import glue

from rsground_lib import evaluation, files, geo, models, paths, plotting, report
from rsground_lib.data import scene_raster

layout = paths.layout(profile, runs_root or None)
run_dir = layout.output("07_geo")
trained, untrained = evaluation.run_checkpoints("", layout)
model_path = evaluation.choose_checkpoint(checkpoint, trained, untrained, str(paths.tiny_base()))
model, processor = models.load_model(model_path)
settings = geo.GroundingSettings(prompt_style=prompt_style or None, max_new_tokens=max_new_tokens, batch_size=batch_size, top_k=top_k, merge_iou=merge_iou, min_valid=min_valid)
glue("model_path", model_path if checkpoint else "the committed tiny base (checkpoints/tiny-base)", display=False)
glue("model_origin", f"the checkpoint named by the parameter checkpoint ({checkpoint})" if checkpoint else 'not a checkpoint this run trained (set the parameter checkpoint to "RFT" for this run\'s last one)', display=False)

# %% tags=["remove-input"]
report.profile_banner(profile)

# %% [markdown]
# The model: {glue:text}`model_path`.
#
# ## A raster whose answer is known
#
# Each synthetic raster is {glue:text}`raster_size` pixels a side and georeferenced
# ({glue:text}`syn_crs`, {glue:text}`syn_pixel` pixels). It holds one scene of the tiny
# base's training distribution ({glue:text}`image_size` px, {glue:text}`syn_objects` objects
# of different classes, the sentence names one class) placed at a random offset, on a
# background that continues the scene's. The
# target is known, so the answer can be scored. Windows are {glue:text}`tile` px (the size
# the model was trained on) and overlap by {glue:text}`overlap_pct`, so the windows rarely
# line up with the scene.

# %%
rasters = scene_raster.synthetic_rasters(run_dir / "rasters", num_rasters, seed=seed, size=raster_size, scene_size=image_size)
results = [geo.ground_raster(r["path"], r["expression"], model, processor, settings, tile=tile, overlap=overlap, progress=False) for r in rasters]
whole = geo.score_groundings(results, [r["bbox"] for r in rasters])
alone, _ = evaluation.evaluate(model, processor, [r["scene"] for r in rasters], prompt_style=prompt_style, max_new_tokens=max_new_tokens, batch_size=batch_size)
files.write_json(run_dir / "synthetic.json", {"whole_raster": whole, "scene_alone": alone})
glue("raster_size", raster_size, display=False)
syn = geo.describe(geo.open_raster(rasters[0]["path"]))
glue("syn_crs", syn["crs"], display=False)
glue("syn_pixel", syn["pixel"], display=False)
glue("syn_objects", f"{min(len(r['objects']) for r in rasters)} to {max(len(r['objects']) for r in rasters)}", display=False)
glue("image_size", image_size, display=False)
glue("tile", tile, display=False)
glue("overlap_pct", report.percent(overlap, digits=0), display=False)
report.show_table(pd.DataFrame({
    "the scene alone (the model's own input size)": {"pr@0.5": alone["pr@0.5"], "mean_iou": alone["mean_iou"], "n": alone["n"]},
    "whole raster, top answer": {"pr@0.5": whole["pr@0.5"], "mean_iou": whole["mean_iou"], "n": whole["n"]},
    "whole raster, best window (a perfect choice)": {"pr@0.5": whole["candidate_recall"], "mean_iou": None, "n": whole["n"]},
}).T)

# %%
glue("alone_pr50", report.percent(alone["pr@0.5"]), display=False)
glue("whole_pr50", report.percent(whole["pr@0.5"]), display=False)
glue("recall_pr50", report.percent(whole["candidate_recall"]), display=False)
glue("windows_per_raster", f"{whole['windows']:.0f}", display=False)
glue("whole_vs_alone", report.relation(whole["pr@0.5"], alone["pr@0.5"], more="above", less="below", same="equal to"), display=False)
glue("choice_cost", report.change_phrase(whole["candidate_recall"], whole["pr@0.5"]), display=False)
glue("choice_verdict", report.relation(whole["candidate_recall"], whole["pr@0.5"], more="choosing windows by the model's confidence loses rasters that another window got right", less="the top answer was right where no single window was (merging)", same="choosing windows by the model's confidence lost no raster that another window got right"), display=False)

# %% [markdown]
# On the scene alone the model scores Pr@0.5 {glue:text}`alone_pr50`. In the whole raster
# its top answer scores {glue:text}`whole_pr50` ({glue:text}`whole_vs_alone` the scene alone),
# over {glue:text}`windows_per_raster` windows per raster. Some window held a correct answer
# in {glue:text}`recall_pr50` of the rasters. Keeping the most confident window instead
# {glue:text}`choice_cost`: the cost of choosing a window by the model's confidence. Every
# window gets an answer, even one that shows part of the scene or none of it; wherever the two
# rows differ, a window whose answer was wrong was surer than one whose answer was right.

# %%
panels = [geo.panel(r["path"], title=f'"{r["expression"]}"', windows=res.windows, targets=[r["bbox"]], answers=[(a.box, a.rank) for a in res.answers]) for r, res in list(zip(rasters, results, strict=True))[:gallery_size]]
plotting.show_figure(plotting.raster_panels(panels), run_dir / "figures" / "synthetic.png")

# %% [markdown]
# The first rasters, with the window grid, the target and the kept answers (1 = most
# confident).
#
# ## Real trees in an aerial image
#
# `aerial_boxes/OSBS_029.tif` is a real airborne RGB image of {glue:text}`aerial_size`
# ({glue:text}`aerial_pixel` pixels, {glue:text}`aerial_crs`) from the DeepForest package {cite:p}`weinstein2020deepforest`,
# with {glue:text}`n_trees` tree crowns labelled by hand. It has no referring expressions. `rsground_lib.data.box_sentences` writes them from the boxes, and
# keeps a sentence only when the boxes decide it by a clear margin ("the rightmost tree",
# "the smallest tree", "the tree in the upper left corner"; our rules). The tiny model has
# never seen a tree or a real image. Its answers here measure how far these images are from
# its 64-px training shapes. They are not a benchmark. (The file declares
# {glue:text}`aerial_nodata` as its nodata value, so pixels where a band is saturated at that
# value are masked — {glue:text}`aerial_masked` of the image, the black specks in the
# figure.)

# %%
data = paths.data_root(data_root or None)
aerial_path = data / "aerial_boxes" / "OSBS_029.tif" if data else None
aerial = geo.ground_labelled(aerial_path, model, processor, settings, noun="tree", tile=aerial_tile, overlap=aerial_overlap, progress=False)
files.write_json(run_dir / "aerial.json", aerial["rows"] if aerial else None)
glue("n_sentences", aerial["n"] if aerial else report.NOT_MEASURED, display=False)
glue("aerial_hits", f"{aerial['hits']} of {aerial['n']}" if aerial else report.NOT_MEASURED, display=False)
glue("aerial_any_tree", f"{aerial['any_object']} of {aerial['n']}" if aerial else report.NOT_MEASURED, display=False)
glue("aerial_chance", report.percent(1 / len(aerial["objects"])) if aerial else report.NOT_MEASURED, display=False)
glue("aerial_distinct", geo.distinct_answers(aerial["results"]) if aerial else report.NOT_MEASURED, display=False)
aerial_facts = geo.describe(aerial["info"]) if aerial else {}
glue("n_trees", len(aerial["objects"]) if aerial else report.NOT_MEASURED, display=False)
for key in ("size", "pixel", "crs", "nodata"):
    glue(f"aerial_{key}", aerial_facts.get(key, report.NOT_MEASURED), display=False)
glue("aerial_masked", report.percent(1 - geo.valid_share(aerial_path)) if aerial else report.NOT_MEASURED, display=False)
report.show_table(pd.DataFrame(aerial["rows"]).set_index("sentence")) if aerial else None

# %%
aerial_panel = geo.panel(aerial_path, title="OSBS_029: the labelled trees, each sentence's target and its top answer (numbered as the table's rows)", objects=[o["bbox"] for o in aerial["objects"]], targets=[s["bbox"] for s in aerial["sentences"]], answers=[(r.answers[0].box, i + 1) for i, r in enumerate(aerial["results"]) if r.answers]) if aerial else None
plotting.show_figure(plotting.raster_panels([aerial_panel], ncols=1), run_dir / "figures" / "aerial.png") if aerial else None

# %% [markdown]
# Sentences written from the boxes: {glue:text}`n_sentences`. The top answer overlaps the
# intended tree with IoU > 0.5 for {glue:text}`aerial_hits` of them, and overlaps *some*
# tree with IoU > 0.5 for {glue:text}`aerial_any_tree`. A box on a random tree would be the
# intended one {glue:text}`aerial_chance` of the time. The sentences' top answers fall on
# {glue:text}`aerial_distinct` different boxes: sentences that name opposite corners get
# different boxes only if the model reads the position words in this image. The model is
# {glue:text}`model_path` — {glue:text}`model_origin`.
#
# ## A Landsat scene with a nodata border
#
# `geotiff/RGB.byte.tif` is a real Landsat-7 scene ({glue:text}`landsat_size`,
# {glue:text}`landsat_pixel` pixels, {glue:text}`landsat_crs`), rotated within its frame:
# {glue:text}`landsat_empty` of its pixels hold no data. Windows that are mostly nodata are
# skipped before the model sees them. Nothing in this scene is labelled: the answer to
# "{glue:text}`landsat_sentence`" is drawn and written, **not scored**.

# %%
landsat_path = data / "geotiff" / "RGB.byte.tif" if data else None
landsat = geo.ground_raster(landsat_path, landsat_sentence, model, processor, settings, tile=landsat_tile, overlap=landsat_overlap, progress=False) if landsat_path and landsat_path.is_file() else None
glue("landsat_sentence", landsat_sentence, display=False)
landsat_facts = geo.describe(landsat.info) if landsat else {}
for key in ("size", "pixel", "crs"):
    glue(f"landsat_{key}", landsat_facts.get(key, report.NOT_MEASURED), display=False)
glue("landsat_empty", report.percent(1 - geo.valid_share(landsat_path)) if landsat else report.NOT_MEASURED, display=False)
glue("landsat_tile", landsat_tile, display=False)
glue("min_valid_pct", report.percent(min_valid, digits=0), display=False)
glue("landsat_windows", len(landsat.windows) if landsat else report.NOT_MEASURED, display=False)
glue("landsat_skipped", len(landsat.skipped) if landsat else report.NOT_MEASURED, display=False)
landsat_panel = geo.panel(landsat_path, title=f'RGB.byte.tif: "{landsat_sentence}"', windows=landsat.windows, skipped=landsat.skipped, answers=[(a.box, a.rank) for a in landsat.answers]) if landsat else None
plotting.show_figure(plotting.raster_panels([landsat_panel], ncols=1), run_dir / "figures" / "landsat.png") if landsat else None

# %% [markdown]
# Windows of {glue:text}`landsat_tile` px: {glue:text}`landsat_windows`, of which
# {glue:text}`landsat_skipped` were skipped because less than {glue:text}`min_valid_pct` of
# their pixels hold data (red).
#
# ## The answers as GeoJSON
#
# The aerial image's answers — every sentence's {glue:text}`top_k` best — are written to a
# GeoJSON file in the raster's CRS, one feature per answer, with the sentence, rank, score,
# window and pixel box as attributes, and read back with geopandas as QGIS would read it.

# %%
written = geo.write_answers(aerial["results"], run_dir / "aerial_answers.geojson", model_path if checkpoint else "checkpoints/tiny-base") if aerial else None
back = gpd.read_file(written) if aerial else None
glue("geojson_crs", str(back.crs) if aerial else report.NOT_MEASURED, display=False)
glue("geojson_features", len(back) if aerial else report.NOT_MEASURED, display=False)
glue("top_k", top_k, display=False)
report.show_table(geo.map_table(back, rank=1).drop(columns="rank").set_index("sentence")) if aerial else None

# %% [markdown]
# The file holds {glue:text}`geojson_features` features in {glue:text}`geojson_crs` (the
# {glue:text}`top_k` best answers of each sentence); the table shows the best answer's map
# bounds in metres (easting, northing). The same from the
# command line, for any raster GDAL reads:
#
# ```bash
# rsground ground aerial_boxes/OSBS_029.tif "the smallest tree" --tile 128 --overlap 0.5 --top-k 3 -o trees.geojson
# rsground ground my_scene.tif "the storage tank at the top" --checkpoint runs/full/04_rft/rft --bands 3,2,1 -o tanks.gpkg
# ```
#
# A raster without georeferencing (a PNG, a TIFF without a transform) is answered in pixel
# coordinates. The command says so, the frame has no CRS, and each feature's `coords` is
# `pixel`. Such answers are written to GeoPackage only, which stores "no CRS" as such: a
# GeoJSON file is refused, because its readers assume WGS 84 and would put the boxes near
# longitude 0, latitude 0.

# %%
report.glue_status("geo", f"built; {num_rasters} synthetic rasters grounded and scored in this run (top answer Pr@0.5 {report.percent(whole['pr@0.5'])}); the real rasters: {'grounded' if aerial and landsat else 'not measured (no real data)'}")

# %% [markdown]
# ## Summary
#
# - A raster of any size is read window by window: bands are chosen, non-8-bit data is
#   stretched, nodata is masked. Each window is grounded in batches, and the answers are mapped
#   to polygons in the raster's CRS and written as GeoJSON or GeoPackage.
# - On synthetic rasters the top answer scores {glue:text}`whole_pr50` against
#   {glue:text}`alone_pr50` on the scene alone. A perfect choice among the windows would score
#   {glue:text}`recall_pr50`: {glue:text}`choice_verdict`.
# - On a real aerial image the tiny model finds the intended tree in {glue:text}`aerial_hits`
#   sentences. It was trained on 64-px shapes, so this measures the distance between its
#   training scenes and real imagery, not the method.
#
# ## What's next
#
# The peak memory of a 10,000 × 10,000 raster is measured by `make bench`
# (`rsground_lib/bench/geo.py`). The [design page](design.md) keeps the status of every
# stage.
