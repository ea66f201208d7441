using System.Globalization;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Examples.DenoisingTask;

/// <summary>
/// A task of one's own: denoising Fashion-MNIST. The inputs are the normalised images plus Gaussian noise that is fixed
/// per sample (the same in every epoch and run), the targets are the clean images, the model is a
/// <see cref="Denoiser"/>, the trainer a <see cref="DenoisingTrainer"/>, and the score the per-pixel mean squared error
/// on the validation images (the test split), lower is better.
/// </summary>
/// <remarks>
/// Data:Path is the folder of Fashion-MNIST's four IDX files (Debian's dataset-fashion-mnist when empty). Settings
/// (Task:Settings:*): <c>noise_std</c>, the noise's standard deviation in normalised pixel units, greater than 0
/// (default 0.5). Any other key is refused by name.
/// </remarks>
public sealed class DenoisingFashionTask : TrainingTask
{
    /// <summary>The name of the noise setting (Task:Settings:noise_std).</summary>
    public const string NoiseStdKey = "noise_std";

    /// <summary>Standard deviation of the noise when <see cref="NoiseStdKey"/> is not set.</summary>
    public const double DefaultNoiseStd = 0.5;

    // Each split draws its noise from its own seed, so no training sample shares a validation sample's noise.
    private const long TrainNoiseSeed = 1, ValidationNoiseSeed = 2;

    private FashionMnistData? _data;
    private Tensor? _trainNoise, _validationNoise;

    /// <inheritdoc />
    public override string Name => "fashion-denoising";

    /// <summary>"mse": per-pixel mean squared error between the model's output and the clean image; lower is better.</summary>
    public override TaskScore Score { get; } = new("mse", ScoreDirection.LowerIsBetter);

    /// <inheritdoc />
    public override long[] ExampleInputShape => [1, 1, FashionMnist.ImageSize, FashionMnist.ImageSize];

    /// <summary>The noise's standard deviation in normalised pixel units (Task:Settings:noise_std).</summary>
    public double NoiseStd { get; private set; } = DefaultNoiseStd;

    private FashionMnistData Data => _data ?? throw new InvalidOperationException($"The task '{Name}' is not configured: call Configure first.");

    /// <inheritdoc />
    public override void Configure(TaskContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var unknown = context.Settings.Keys.Where(k => !k.Equals(NoiseStdKey, StringComparison.OrdinalIgnoreCase)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"{string.Join(", ", unknown.Select(k => $"Task:Settings:{k}"))} is not a setting of this task; " +
                                        $"its only setting is Task:Settings:{NoiseStdKey} (the noise's standard deviation, default {Invariant(DefaultNoiseStd)}).");
        NoiseStd = ReadNoiseStd(context.Settings);
        Release();
        _data = FashionMnist.Load(context.DataPath.Length > 0 ? context.DataPath : FashionMnist.DefaultDirectory, context.Logger);
        long[] image = [1, FashionMnist.ImageSize, FashionMnist.ImageSize];
        _trainNoise = NoisyImageLoader.DrawNoise(_data.TrainCount, image, TrainNoiseSeed);
        _validationNoise = NoisyImageLoader.DrawNoise(_data.TestCount, image, ValidationNoiseSeed);
    }

    private static double ReadNoiseStd(IReadOnlyDictionary<string, string> settings)
    {
        var text = settings.FirstOrDefault(kv => kv.Key.Equals(NoiseStdKey, StringComparison.OrdinalIgnoreCase)).Value;
        if (text is null) return DefaultNoiseStd;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value <= 0)
            throw new ArgumentException($"Task:Settings:{NoiseStdKey} = '{text}' is invalid; accepted: a number greater than 0 " +
                                        $"(the noise's standard deviation in normalised pixel units, default {Invariant(DefaultNoiseStd)}).");
        return value;
    }

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> CreateModel() => new Denoiser();

    /// <inheritdoc />
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) =>
        new NoisyImageLoader(Data.TrainImages, _trainNoise!, batchSize, shuffle: true, seed, subsetRatio, NoiseStd);

    /// <inheritdoc />
    public override IBatchLoader ValidationLoader(int batchSize) =>
        new NoisyImageLoader(Data.TestImages, _validationNoise!, batchSize, shuffle: false, seed: 0, subsetRatio: 1.0, NoiseStd);

    /// <inheritdoc />
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new DenoisingTrainer(setup);

    /// <summary>Per-pixel mean squared error of <paramref name="model"/>'s outputs against the clean images.</summary>
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data)
    {
        double squaredError = 0;
        long pixels = 0;
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        using (new EvalModeScope(model))
        using (inference_mode())
        {
            foreach (var batch in data.GetBatches(0))
            {
                using var scope = NewDisposeScope();
                var output = model.call(batch.Inputs.to(device));
                squaredError += (output - batch.Targets.to(device)).square().sum().to(ScalarType.Float64).item<double>();
                pixels += batch.Targets.numel();
            }
        }
        return pixels > 0 ? squaredError / pixels : double.NaN;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) Release();
    }

    private void Release()
    {
        _data?.Dispose();
        _trainNoise?.Dispose();
        _validationNoise?.Dispose();
        (_data, _trainNoise, _validationNoise) = (null, null, null);
    }
}
