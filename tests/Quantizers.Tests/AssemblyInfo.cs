// Tests share TorchSharp's global random state (manual_seed); run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
