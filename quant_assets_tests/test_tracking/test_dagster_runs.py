"""The resources inside a real Dagster run: MLflow runs carry the run id, asset and partition."""

from __future__ import annotations

from dagster import StaticPartitionsDefinition, asset, materialize

from quant_assets.resources.compute import ComputeResource
from quant_assets.resources.mlflow import MLflowResource
from quant_assets.tracking import RunProvenance, log_training


def test_asset_runs_are_tagged_with_their_dagster_run(tracker, trained_mlp, panel):
    @asset(partitions_def=StaticPartitionsDefinition(["2017"]))
    def trained_model(context, mlflow: MLflowResource, compute: ComputeResource) -> str:
        logged = log_training(
            mlflow.tracker(),
            trained_mlp,
            panel,
            window=context.partition_key,
            provenance=RunProvenance.from_context(context),
            compute=compute.describe(),
        )
        return logged.model_uri

    resources = {
        "mlflow": MLflowResource(tracking_uri=tracker.tracking_uri),
        "compute": ComputeResource(device="cpu"),
    }
    result = materialize([trained_model], resources=resources, partition_key="2017")
    assert result.success
    (run,) = tracker.runs_for_dagster_run(result.run_id)
    tags = run.data.tags
    assert tags["dagster_asset_key"] == "trained_model"
    assert tags["dagster_partition"] == "2017" and tags["window"] == "2017"
    assert tags["compute.device"] == "cpu" and tags["compute.mixed_precision"] == "False"
    assert result.output_for_node("trained_model") == "models:/quant_assets-mlp/1"
