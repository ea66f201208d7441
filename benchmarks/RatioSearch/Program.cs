using System.Diagnostics;
using Benchmarks.RatioSearch;
using Microsoft.Extensions.Logging;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Graph;
using Trainer.Core.Optimization;
using Trainer.Core.Search;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

// For each --model: trains it on the first 55 000 training images (or loads --checkpoint), then for each of --seeds runs the
// uniform ratio and the --methods searches (AMC's agent, GA, SA, NetAdapt) for per-group keep ratios at --target of the MACs,
// each trial scored on held-out training images (never the test set). Every best policy is L1-applied to the trained model
// and its test accuracy reported before and after --finetune-epochs of finetuning (NetAdapt's candidates are also finetuned
// briefly while it searches). One Markdown table per model with the means over seeds, then one JSON line. See README.md.
BenchOptions o;
try { o = BenchOptions.Parse(args); }
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
torch.set_num_threads(o.Threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(s => { s.SingleLine = true; s.TimestampFormat = "HH:mm:ss "; }).SetMinimumLevel(LogLevel.Information));
var logger = loggers.CreateLogger("RatioSearch");
using var data = FashionMnist.Load(FashionMnist.DefaultDirectory, logger);
long heldOutStart = data.TrainCount - 5000;
long trainCount = o.TrainLimit > 0 ? Math.Min(o.TrainLimit, heldOutStart) : heldOutStart;
var trainImages = data.TrainImages.narrow(0, 0, trainCount);
var trainLabels = data.TrainLabels.narrow(0, 0, trainCount);
TensorBatchLoader TrainLoader(int seed) => new(trainImages, trainLabels, BenchOptions.BatchSize, shuffle: true, seed, inputTransform: FashionMnist.Normalize);
using var heldOut = new TensorBatchLoader(data.TrainImages.narrow(0, heldOutStart, o.HeldOut), data.TrainLabels.narrow(0, heldOutStart, o.HeldOut),
    50, shuffle: false, inputTransform: FashionMnist.Normalize);
using var test = data.TestLoader(50);
using var task = new HeldOutTask();
long[] shape = [1, 1, 28, 28];
logger.LogInformation("Training/finetuning on {Train} images, held-out {HeldOut}, models {Models}, seeds {Seeds}, methods {Methods}",
    trainCount, o.HeldOut, string.Join(",", o.Models), string.Join(",", o.Seeds), string.Join(",", o.Methods));

var rows = new List<BenchRow>();
var summaries = new List<ModelSummary>();
foreach (var name in o.Models)
{
    Func<nn.Module<Tensor, Tensor>> factory = () => o.Create(name);
    torch.manual_seed(0);
    using var model = factory();
    double epochSeconds = double.NaN;
    var checkpoint = o.CheckpointOf(name);
    if (checkpoint is not null && File.Exists(checkpoint))
    {
        CheckpointFile.LoadWeights(checkpoint, model);
        logger.LogInformation("{Model}: weights loaded from {Checkpoint}", name, checkpoint);
    }
    else
    {
        // The trained model is the same for every seed: the seeds drive the searches and the finetuning order only.
        using var trainLoader = TrainLoader(0);
        var clock = Stopwatch.StartNew();
        new ClassificationTrainer(new TrainerSetup
        {
            // No validation pass: the epoch time is training only (the test accuracy is measured once, below).
            Network = model, TrainLoader = trainLoader, Logger = logger,
            Optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = BenchOptions.LearningRate, Momentum = BenchOptions.Momentum },
                model.parameters()),
            Settings = new TrainerSettings { Epochs = o.Epochs, MonitorMetric = "train/epoch_" + Trainer.Abstractions.LossNames.Total, MonitorMode = MetricMode.Min },
        }).Run();
        epochSeconds = clock.Elapsed.TotalSeconds / Math.Max(1, o.Epochs);
        logger.LogInformation("{Model}: trained {Epochs} epoch(s), {Seconds:0} s per epoch", name, o.Epochs, epochSeconds);
        if (checkpoint is not null) CheckpointFile.SaveWeights(checkpoint, model);
    }
    model.eval();
    // Which conv kernels the search runs with (the process default after the start-up self-test; a training run restores it).
    logger.LogInformation("Search kernels: oneDNN {OneDnn} ({Status})", Trainer.Core.Runtime.ConvKernels.UsesOneDnn, Trainer.Core.Runtime.ConvKernels.Status);
    var space = PolicySpace.Build(model, ModelGraph.Build(model, shape, logger), o.Target, floor: 0.2, roundTo: 1);
    var uniform = space.Uniform();
    logger.LogInformation("{Model}: {Groups} groups ({Channels} channels); uniform keeps {Kept} = {Macs:P1} of the MACs",
        name, space.Count, string.Join(",", space.Groups.Select(g => $"{g.Id}:{g.Channels}")), string.Join(",", uniform), space.MacsOf(uniform) / (double)space.FullMacs);
    // --bn-batches: every pruned copy's BatchNorm statistics re-estimated on training batches (never the held-out ones) first.
    using var recalibrationLoader = o.BatchNormBatches > 0 ? TrainLoader(1000) : null;
    var recalibration = recalibrationLoader is null ? null : new BatchNormRecalibration(recalibrationLoader, o.BatchNormBatches);
    // --pruner: how each trial (and each row's test copy) is pruned: the built-in L1 selection, or channel-pruning's LASSO
    // selection with least-squares reconstruction (He et al. 2017; AMC's environment reconstructs each pruned layer too),
    // sampling its layers on training batches.
    using var pruneSamples = o.Pruner == "lasso" ? TrainLoader(2000) : null;
    IPolicyScorer scorer = pruneSamples is null
        ? new TaskPolicyScorer(task, factory, model, shape, heldOut, recalibration: recalibration)
        : new CompressorPolicyScorer(task, new Plugins.ChannelPruning.ChannelPruningCompressor(),
            new Dictionary<string, string> { ["method"] = "lasso", ["reconstruct"] = "true" }, factory, model, shape, pruneSamples, heldOut,
            recalibration: recalibration);
    var trialClock = Stopwatch.StartNew();
    scorer.Score(space.ById(uniform));
    double trialSeconds = trialClock.Elapsed.TotalSeconds;
    trialClock.Restart();
    double unprunedTest = ClassificationAccuracy.Of(model, test);
    logger.LogInformation("{Model}: unpruned test accuracy {Accuracy:P2} ({TestSeconds:0.0} s for the 10 000 test images); one trial (copy, L1 prune, score {HeldOut} images) {Seconds:0.00} s",
        name, unprunedTest, trialClock.Elapsed.TotalSeconds, o.HeldOut, trialSeconds);
    summaries.Add(new ModelSummary(name, unprunedTest, space.Count, epochSeconds, trialSeconds));
    var setup = new ModelSetup(name, model, factory, shape, space, task, scorer, new PrunedFinetune(task, (IPolicyPruner)scorer, test, recalibration, o.CosineFinetune), TrainLoader, heldOut);
    foreach (var seed in o.Seeds) rows.AddRange(SeedRunner.Run(setup, seed, o, logger));
}
ResultTable.Print(o, summaries, rows);
return 0;
