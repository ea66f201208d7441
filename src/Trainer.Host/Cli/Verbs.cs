namespace Trainer.Host.Cli;

/// <summary>The verbs the host knows and their one-line descriptions.</summary>
public static class Verbs
{
    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>
    {
        ["train"] = "Train the configured model (default job: the Fashion-MNIST CNN) with TensorBoard logs and checkpoints.",
        ["run"] = "Run the pipeline of Pipeline:Stages in one run folder (default job: train, compress with finetuning, export, report).",
        ["compress"] = "Compress a trained model (Model:Checkpoint, Model:Manifest or Model:PyTorchWeights): compress → finetune iterations, manifest, report.",
        ["quantize"] = "Quantize a trained or compressed model with a quantizer plugin (Quantization:Quantizer), finetune if it trains, export int8.",
        ["search"] = "Search per-layer keep ratios of a trained model under a MACs budget (Search:Method amc, genetic or annealing; Search:Runner in-process, local worker processes or slurm job arrays); compress applies the best with Compression:Allocation=searched.",
        ["trial"] = "Run one search trial from its JSON spec: trainer trial <spec.json> --result <result.json>; trainer trial --worker serves trials from standard input (Search:Runner=local starts these).",
        ["export"] = "Export a trained or compressed model in inference form (BatchNorm folded, faster layout) as a manifest any verb reloads.",
        ["predict"] = "Run an exported ONNX model (Predict:Onnx, default the run's export) in ONNX Runtime: the task's score on its validation data (or each image's top class with Predict:Images), batch-1 and batch-N latency.",
        ["analyze"] = "Analyse a model: trainer analyze <" + string.Join("|", Jobs.AnalyzeJob.SubCommands.Keys) + "> [--json FILE].",
    };

    public static string Help => $"""
        trainer: train neural networks and make them smaller and faster.

        Usage: trainer <verb> [options] [--Section:Key=value ...]

        Verbs:
        {string.Join(Environment.NewLine, All.Select(kv => $"  {kv.Key,-10} {kv.Value}"))}

        Analyze sub-commands:
        {string.Join(Environment.NewLine, Jobs.AnalyzeJob.SubCommands.Select(kv => $"  {kv.Key,-12} {kv.Value}"))}

        Options:
          --json <file>      (analyze) also write the figures as JSON
          --resume           continue the run named by --Trainer:RunName (or the newest run) from its last checkpoint
          --config <file>    read this JSON file after appsettings.json
          --help             show this help

        Configuration comes from appsettings.json in the working folder, then --config, then environment
        variables (Trainer__Epochs=3), then the command line (--Trainer:Epochs=3).
        Sections: Trainer (Epochs, MaxSteps, BatchSize, EvalBatchSize, Optimizer, LearningRate, Momentum, WeightDecay,
        Nesterov, Scheduler, StepSize, Gamma, Patience, MinLr, StopLr, GradientClipNorm, MonitorMetric,
        MonitorMode, EarlyStopping:{"{"}Monitor,Mode,Patience,MinDelta{"}"}, Pruning:{"{"}Kind,FinalSparsity,InitialSparsity,Unit,Start,End,
        Frequency,Pruner,Global,OpTypes,OpNames,ExcludeOpNames,PruneFraction,Rounds,EpochsPerRound,RewindStep,MakePermanent{"}"}, Seed, Device, Threads, RunName, LogDir,
        CheckpointDir, LogEveryNSteps, WeightHistograms), Task (Name, Assembly, Type, Settings:{"{"}<task's keys>{"}"}), Data (Path, SubsetRatio), Model (Name, InputShape,
        Assembly, Type, Checkpoint, Manifest, PyTorchWeights), Compression (PluginsDir, Plugins, Compressor, TargetFlopsRatio, TargetLatencyRatio, Iterations,
        ScoreThreshold, FinetuneEpochs, FinetuneLearningRate, Distill, DistillTemperature, DistillAlpha, Allocation, Policy, LayerFloor,
        RoundTo, LatencyCacheDir, MeasuredCandidates, RefineSteps, LatencyForm, AccuracySamples, Settings:{"{"}<compressor's keys>{"}"}, Compressors:{"{"}<name>:{"{"}<keys>{"}"}{"}"}), Quantization (Quantizer, FinetuneEpochs, FinetuneLearningRate,
        ReloadTolerance, Settings:{"{"}<quantizer's keys>{"}"}, Quantizers:{"{"}<name>:{"{"}<keys>{"}"}{"}"}), Pipeline (Stages), Export (Format, OnnxThreads, OnnxCheckSamples), Predict (Onnx, Images, Samples, BatchSize, Threads,
        LatencyRounds), Search (Method, TargetFlopsRatio, LayerFloor, RoundTo,
        Reward, Episodes, WarmupEpisodes, Population, Generations, HeldOutSamples, Seed, Runner, Workers, ThreadsPerWorker, MaxAttempts) and Analyze (CountMode, OutputDir, Masks, MaskConflictMode, Sensitivity:{"{"}Sparsities, EarlyStopMode,
        EarlyStopValue, Layers, ShardIndex, ShardCount, ValidationSamples, MergeFiles, MergeOutput{"}"}).
        """;
}
