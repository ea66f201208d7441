using Microsoft.Extensions.Options;
using Trainer.Core.Optimization;
using TorchSharp;

namespace Trainer.Host.Options;

/// <summary>Checks the "Trainer" section before any work starts; each failure names the key and what it accepts.</summary>
public sealed class TrainerOptionsValidator : IValidateOptions<TrainerOptions>
{
    public ValidateOptionsResult Validate(string? name, TrainerOptions o)
    {
        var errors = new List<string>();
        void Require(bool ok, string key, object? value, string accepted)
        {
            if (!ok) errors.Add($"Trainer:{key} = '{value}' is invalid; accepted: {accepted}.");
        }
        Require(o.Epochs > 0, "Epochs", o.Epochs, "a positive integer");
        Require(o.MaxSteps >= 0, "MaxSteps", o.MaxSteps, "an integer >= 0 (0 = no limit)");
        Require(o.BatchSize > 0, "BatchSize", o.BatchSize, "a positive integer");
        Require(o.EvalBatchSize > 0, "EvalBatchSize", o.EvalBatchSize, "a positive integer");
        Require(OptimizerOptions.Names.Contains(o.Optimizer.ToLowerInvariant()), "Optimizer", o.Optimizer, string.Join(", ", OptimizerOptions.Names));
        Require(o.LearningRate >= 0 && double.IsFinite(o.LearningRate), "LearningRate", o.LearningRate, "a number >= 0");
        Require(o.Momentum is >= 0 and < 1, "Momentum", o.Momentum, "a number in [0, 1)");
        Require(o.WeightDecay >= 0, "WeightDecay", o.WeightDecay, "a number >= 0");
        Require(ScheduleOptions.Names.Contains(o.Scheduler.ToLowerInvariant()), "Scheduler", o.Scheduler, string.Join(", ", ScheduleOptions.Names));
        Require(o.StepSize > 0, "StepSize", o.StepSize, "a positive integer");
        Require(o.Gamma is > 0 and < 1, "Gamma", o.Gamma, "a number in (0, 1)");
        Require(o.Patience >= 0, "Patience", o.Patience, "an integer >= 0");
        Require(o.StopLr >= 0, "StopLr", o.StopLr, "a number >= 0 (0 turns the rule off)");
        Require(o.GradientClipNorm >= 0, "GradientClipNorm", o.GradientClipNorm, "a number >= 0 (0 turns clipping off)");
        Require(o.MonitorMode.Length == 0 || IsMode(o.MonitorMode), "MonitorMode", o.MonitorMode, "min, max, or empty (the task score's direction)");
        if (o.MonitorMetric.Length > 0 && o.MonitorMode.Length == 0)
            errors.Add($"Trainer:MonitorMode is empty while Trainer:MonitorMetric names '{o.MonitorMetric}'; set it to max or min " +
                       "(both empty = the task's score in its direction).");
        Require(IsMode(o.EarlyStopping.Mode), "EarlyStopping:Mode", o.EarlyStopping.Mode, "min, max");
        Require(o.EarlyStopping.Patience >= 0, "EarlyStopping:Patience", o.EarlyStopping.Patience, "an integer >= 0 (0 turns early stopping off)");
        Require(o.EarlyStopping.MinDelta >= 0, "EarlyStopping:MinDelta", o.EarlyStopping.MinDelta, "a number >= 0");
        errors.AddRange(o.Pruning.Errors(o.Epochs));
        Require(o.Threads >= 0, "Threads", o.Threads, "an integer >= 0 (0 = TorchSharp's default)");
        Require(Enum.TryParse<Trainer.Core.Runtime.ConvKernelPolicy>(o.ConvKernels, ignoreCase: true, out _) && !int.TryParse(o.ConvKernels, out _),
            "ConvKernels", o.ConvKernels, "auto, onednn, native");
        Require(o.LogEveryNSteps > 0, "LogEveryNSteps", o.LogEveryNSteps, "a positive integer");
        Require(o.RunName.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && o.RunName is not ("." or ".."),
            "RunName", o.RunName, "a folder name without path separators");
        if (DeviceError(o.Device) is { } deviceError) errors.Add(deviceError);
        foreach (var (key, dir) in new[] { ("LogDir", o.LogDir), ("CheckpointDir", o.CheckpointDir) })
            if (WritableFolderError(dir) is { } why) errors.Add($"Trainer:{key} = '{dir}' is not a writable folder ({why}); choose a folder you can write to.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool IsMode(string mode) => mode.ToLowerInvariant() is "min" or "max";

    /// <summary>Null if the device is usable by this build, otherwise the message saying why.</summary>
    public static string? DeviceError(string device)
    {
        var d = device.Trim().ToLowerInvariant();
        if (d == "cpu") return null;
        if (d == "cuda" || (d.StartsWith("cuda:") && int.TryParse(d[5..], out var index) && index >= 0))
        {
            return torch.cuda.is_available()
                ? null
                : $"Trainer:Device = '{device}' but this build has no CUDA (TorchSharp backend without CUDA, or no GPU); " +
                  "use 'cpu', or build with -p:TorchBackendPackage=TorchSharp-cuda-linux on a machine with a GPU.";
        }
        return $"Trainer:Device = '{device}' is invalid; accepted: cpu, cuda, cuda:<index>.";
    }

    /// <summary>
    /// Null if a file can be written in the folder, or, when it does not exist yet, in its nearest existing
    /// ancestor (where it will be created). Creates nothing that stays.
    /// </summary>
    public static string? WritableFolderError(string folder)
    {
        if (string.IsNullOrWhiteSpace(folder)) return "empty path";
        try
        {
            var existing = new DirectoryInfo(Path.GetFullPath(folder));
            while (!existing.Exists)
            {
                if (File.Exists(existing.FullName)) return $"'{existing.FullName}' is a file";
                existing = existing.Parent ?? throw new DirectoryNotFoundException($"no existing folder above '{folder}'");
            }
            var probe = Path.Combine(existing.FullName, $".write-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return e.Message;
        }
    }
}

/// <summary>Checks the "Data" section before any work starts.</summary>
public sealed class DataOptionsValidator : IValidateOptions<DataOptions>
{
    public ValidateOptionsResult Validate(string? name, DataOptions o)
    {
        var errors = new List<string>();
        if (o.SubsetRatio is <= 0 or > 1 || double.IsNaN(o.SubsetRatio))
            errors.Add($"Data:SubsetRatio = '{o.SubsetRatio}' is invalid; accepted: a number in (0, 1].");
        if (string.IsNullOrWhiteSpace(o.Path))
            errors.Add("Data:Path is empty; accepted: the folder of the task's data (for the fashion-mnist task the IDX files: apt package dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks the "Analyze" section before any work starts.</summary>
public sealed class AnalyzeOptionsValidator : IValidateOptions<AnalyzeOptions>
{
    private static readonly string[] EarlyStopModes = ["none", "minimize", "maximize", "dropped", "raised"];

    public ValidateOptionsResult Validate(string? name, AnalyzeOptions o)
    {
        var errors = new List<string>();
        var s = o.Sensitivity;
        if (o.CountMode.ToLowerInvariant() is not ("default" or "full"))
            errors.Add($"Analyze:CountMode = '{o.CountMode}' is invalid; accepted: default, full.");
        if (o.MaskConflictMode.ToLowerInvariant() is not ("union" or "intersection"))
            errors.Add($"Analyze:MaskConflictMode = '{o.MaskConflictMode}' is invalid; accepted: union, intersection.");
        if (!EarlyStopModes.Contains(s.EarlyStopMode.ToLowerInvariant()))
            errors.Add($"Analyze:Sensitivity:EarlyStopMode = '{s.EarlyStopMode}' is invalid; accepted: {string.Join(", ", EarlyStopModes)}.");
        if (!Trainer.Core.Analysis.Sensitivity.SensitivityPruners.Names.Contains(s.Pruner.ToLowerInvariant()))
            errors.Add($"Analyze:Sensitivity:Pruner = '{s.Pruner}' is invalid; accepted: {string.Join(", ", Trainer.Core.Analysis.Sensitivity.SensitivityPruners.Names)}.");
        if (s.ParseSparsities() is null)
            errors.Add($"Analyze:Sensitivity:Sparsities = '{s.Sparsities}' is invalid; accepted: numbers in (0, 1) separated by commas.");
        if (s.ShardCount < 1 || s.ShardIndex < 0 || s.ShardIndex >= s.ShardCount)
            errors.Add($"Analyze:Sensitivity:ShardIndex/ShardCount = {s.ShardIndex}/{s.ShardCount} is invalid; accepted: ShardCount >= 1 and 0 <= ShardIndex < ShardCount.");
        if (s.ValidationSamples < 0)
            errors.Add($"Analyze:Sensitivity:ValidationSamples = '{s.ValidationSamples}' is invalid; accepted: an integer >= 0 (0 = all).");
        if (TrainerOptionsValidator.WritableFolderError(o.OutputDir) is { } why)
            errors.Add($"Analyze:OutputDir = '{o.OutputDir}' is not a writable folder ({why}); choose a folder you can write to.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks the "Compression" section before any work starts (the plugins themselves are loaded right after).</summary>
public sealed class CompressionOptionsValidator : IValidateOptions<CompressionOptions>
{
    public ValidateOptionsResult Validate(string? name, CompressionOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.PluginsDir))
            errors.Add("Compression:PluginsDir is empty; accepted: the folder holding one sub-folder per plugin (default plugins/bin).");
        for (var i = 0; i < o.Plugins.Count; i++)
        {
            var plugin = o.Plugins[i];
            if (string.IsNullOrWhiteSpace(plugin) || plugin.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || plugin is "." or "..")
                errors.Add($"Compression:Plugins:{i} = '{plugin}' is invalid; accepted: a plugin name, the folder and file name " +
                           "of <PluginsDir>/<Name>/<Name>.dll, without path separators or extension.");
        }
        foreach (var duplicate in o.Plugins.GroupBy(p => p, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
            errors.Add($"Compression:Plugins names '{duplicate.Key}' {duplicate.Count()} times; accepted: each plugin once.");
        if (o.TargetFlopsRatio is <= 0 or >= 1 || double.IsNaN(o.TargetFlopsRatio))
            errors.Add($"Compression:TargetFlopsRatio = {o.TargetFlopsRatio} is invalid; accepted: a fraction of the original MACs in (0, 1), e.g. 0.5.");
        if (o.TargetLatencyRatio is < 0 or >= 1 || double.IsNaN(o.TargetLatencyRatio))
            errors.Add($"Compression:TargetLatencyRatio = {o.TargetLatencyRatio} is invalid; accepted: a fraction of the original's latency in (0, 1), e.g. 0.5, or 0 for the MACs target.");
        else if (o.TargetLatencyRatio > 0 && !o.Allocation.Equals("latency", StringComparison.OrdinalIgnoreCase))
            errors.Add($"Compression:TargetLatencyRatio = {o.TargetLatencyRatio} needs Compression:Allocation = latency (got '{o.Allocation}'): " +
                       "only the latency table can size the layers to a latency budget.");
        if (o.Iterations < 1)
            errors.Add($"Compression:Iterations = {o.Iterations} is invalid; accepted: 1 or more compress → finetune rounds.");
        if (o.ScoreThreshold is { } threshold && !double.IsFinite(threshold))
            errors.Add($"Compression:ScoreThreshold = {threshold} is invalid; accepted: a number in the task score's units (unset = off).");
        if (o.FinetuneEpochs < 0)
            errors.Add($"Compression:FinetuneEpochs = {o.FinetuneEpochs} is invalid; accepted: 0 or more epochs.");
        if (o.FinetuneLearningRate < 0 || double.IsNaN(o.FinetuneLearningRate))
            errors.Add($"Compression:FinetuneLearningRate = {o.FinetuneLearningRate} is invalid; accepted: a positive rate, or 0 for a tenth of Trainer:LearningRate.");
        if (o.DistillTemperature <= 0)
            errors.Add($"Compression:DistillTemperature = {o.DistillTemperature} is invalid; accepted: a positive temperature, e.g. 4.");
        if (o.DistillAlpha is < 0 or > 1)
            errors.Add($"Compression:DistillAlpha = {o.DistillAlpha} is invalid; accepted: a weight in [0, 1].");
        if (!CompressionOptions.Allocations.Contains(o.Allocation, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Compression:Allocation = '{o.Allocation}' is invalid; accepted: {string.Join(", ", CompressionOptions.Allocations)}.");
        else if (o.Allocation.Equals("searched", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                Core.Compression.Allocation.SearchedChannelAllocator.Load(o.Policy);
                if (o.Iterations != 1)
                    errors.Add($"Compression:Iterations = {o.Iterations} does not go with Compression:Allocation = searched: a searched policy " +
                               "sizes the model it was searched on, in one compress step; set Compression:Iterations = 1.");
            }
            catch (ArgumentException e)
            {
                errors.Add(e.Message + ".");
            }
        }
        if (o.LayerFloor is <= 0 or > 1)
            errors.Add($"Compression:LayerFloor = {o.LayerFloor} is invalid; accepted: a fraction of a layer's width in (0, 1], e.g. 0.5.");
        if (o.RoundTo < 1)
            errors.Add($"Compression:RoundTo = {o.RoundTo} is invalid; accepted: 1 (no rounding) or a multiple such as 8.");
        if (o.MeasuredCandidates < 1)
            errors.Add($"Compression:MeasuredCandidates = {o.MeasuredCandidates} is invalid; accepted: 1 (the latency table's pick) or more allocations to time, e.g. 8.");
        if (!CompressionOptions.LatencyForms.Contains(o.LatencyForm, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Compression:LatencyForm = '{o.LatencyForm}' is invalid; accepted: {string.Join(", ", CompressionOptions.LatencyForms)}.");
        if (o.RefineSteps < 0)
            errors.Add($"Compression:RefineSteps = {o.RefineSteps} is invalid; accepted: 0 (no measured refinement) or more steps, e.g. 4.");
        if (o.AccuracySamples < 1)
            errors.Add($"Compression:AccuracySamples = {o.AccuracySamples} is invalid; accepted: a positive number of validation images.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
