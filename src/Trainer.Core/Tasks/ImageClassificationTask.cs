using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Data.Images;
using Trainer.Core.Models;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tasks;

/// <summary>The splits of an image classification data set, as a task loads them.</summary>
/// <param name="Train">Training images.</param>
/// <param name="Validation">Validation images, scored every epoch.</param>
/// <param name="Test">Held-out images scored once after training, or null.</param>
/// <param name="ClassNames">Class names in label order.</param>
public sealed record ImageSplits(IImageSource Train, IImageSource Validation, IImageSource? Test, IReadOnlyList<string> ClassNames);

/// <summary>
/// What the built-in image tasks share: uint8 images per split, normalised per channel (configured, or measured over the
/// training images), the CIFAR augmentation recipe on training batches, the <see cref="ImageCnn"/> sized to the data,
/// cross-entropy training and top-1 accuracy. A subclass reads its own settings and loads its splits.
/// </summary>
/// <remarks>Settings of every image task (Task:Settings:*): <c>mean</c>, <c>std</c> (per-channel, [0, 1] units, both or
/// neither), <c>augment</c>, <c>crop_padding</c>, <c>horizontal_flip</c>, <c>vertical_flip</c>, <c>rotation</c>,
/// <c>width</c>.</remarks>
public abstract class ImageClassificationTask : TrainingTask
{
    private ImageSplits? _splits;
    private PixelNormalization? _normalization;
    private ImageAugmentation _augmentation = ImageAugmentation.CifarRecipe;
    private int _width = 32;
    private double[]? _mean, _std;

    /// <inheritdoc />
    public override TaskScore Score => TaskScore.Accuracy;

    /// <inheritdoc />
    public override long[] ExampleInputShape => [1, .. Splits.Train.ImageShape];

    /// <summary>Class names in label order.</summary>
    public IReadOnlyList<string> ClassNames => Splits.ClassNames;

    /// <summary>The normalisation batches get (configured, or measured over the training images).</summary>
    public PixelNormalization Normalization => _normalization ?? throw NotConfigured();

    /// <summary>The augmentation training batches get.</summary>
    public ImageAugmentation Augmentation => _augmentation;

    /// <summary>The loaded splits.</summary>
    protected ImageSplits Splits => _splits ?? throw NotConfigured();

    /// <summary>Reads the subclass's own settings (before any data is read).</summary>
    protected abstract void ReadSettings(TaskSettingsReader settings);

    /// <summary>Loads the splits from <paramref name="dataPath"/>.</summary>
    protected abstract ImageSplits Load(string dataPath, ILogger logger);

    /// <inheritdoc />
    public override void Configure(TaskContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var settings = new TaskSettingsReader(context.Settings, Name);
        ReadSettings(settings);
        ReadImageSettings(settings);
        settings.RejectUnknown();
        Release();
        var splits = Load(context.DataPath, context.Logger);
        try
        {
            _normalization = ChooseNormalization(splits.Train);
        }
        catch
        {
            Dispose(splits);
            throw;
        }
        _splits = splits;
        context.Logger.LogInformation(
            "Task '{Task}': {Train} training, {Validation} validation{Test} images of [{Shape}], {Classes} classes; normalisation {Normalization} ({Source}); augmentation {Augmentation}.",
            Name, splits.Train.Count, splits.Validation.Count, splits.Test is { } t ? $", {t.Count} test" : "", string.Join(", ", splits.Train.ImageShape),
            splits.ClassNames.Count, _normalization, _mean is null ? "measured over the training images" : "configured",
            _augmentation.IsNone ? "none" : _augmentation.ToString());
    }

    private void ReadImageSettings(TaskSettingsReader settings)
    {
        _mean = settings.Numbers("mean", 0, 1, "the mean of each channel in [0, 1] pixel units; unset: measured over the training images");
        _std = settings.Numbers("std", 1e-6, 1e6, "the standard deviation of each channel in [0, 1] pixel units; unset: measured over the training images");
        if ((_mean is null) != (_std is null))
            throw new ArgumentException($"Set both {TaskSettingsReader.Key("mean")} and {TaskSettingsReader.Key("std")}, or neither (then both are " +
                                        $"measured over the training images); only {TaskSettingsReader.Key(_mean is null ? "std" : "mean")} is set.");
        var augment = settings.Flag("augment", true, "the CIFAR recipe on training batches: random crop after padding, flips, rotations");
        var recipe = ImageAugmentation.CifarRecipe;
        var configured = new ImageAugmentation(
            settings.Integer("crop_padding", recipe.CropPadding, 0, 64, "zero padding on each side before the random crop"),
            settings.Number("horizontal_flip", recipe.HorizontalFlip, 0, 1, "probability of a left-right mirror"),
            settings.Number("vertical_flip", recipe.VerticalFlip, 0, 1, "probability of a top-bottom mirror"),
            settings.Number("rotation", recipe.RotationDegrees, 0, 180, "largest rotation either way, in degrees"));
        _augmentation = augment ? configured : ImageAugmentation.None;
        _width = settings.Integer("width", 32, 1, 1024, "channels of the model's first convs; the later ones have 2x and 4x");
    }

    private PixelNormalization ChooseNormalization(IImageSource train)
    {
        var channels = (int)train.ImageShape[0];
        if (_mean is null || _std is null) return train.MeasureNormalization();
        foreach (var (key, values) in new[] { ("mean", _mean), ("std", _std) })
            if (values.Length != 1 && values.Length != channels)
                throw new ArgumentException($"{TaskSettingsReader.Key(key)} has {values.Length} values; the images have {channels} channel(s): " +
                                            $"give {channels} values, or one for every channel.");
        float[] PerChannel(double[] v) => [.. Enumerable.Range(0, channels).Select(c => (float)v[v.Length == 1 ? 0 : c])];
        return new PixelNormalization(PerChannel(_mean), PerChannel(_std));
    }

    /// <summary>The <see cref="ImageCnn"/> for the data's channels and classes (Task:Settings:width wide).</summary>
    public override nn.Module<Tensor, Tensor> CreateModel() => new ImageCnn((int)Splits.Train.ImageShape[0], Splits.ClassNames.Count, _width);

    /// <summary>Shuffled, augmented, normalised training batches.</summary>
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) =>
        new ImageBatchLoader(Splits.Train.PixelLoader(batchSize, shuffle: true, seed, subsetRatio), Normalization, _augmentation, seed);

    /// <summary>Validation batches in a fixed order, normalised, not augmented.</summary>
    public override IBatchLoader ValidationLoader(int batchSize) =>
        new ImageBatchLoader(Splits.Validation.PixelLoader(batchSize, shuffle: false, 0, 1.0), Normalization);

    /// <summary>Test batches when the data has a test split.</summary>
    public override IBatchLoader? TestLoader(int batchSize) => Splits.Test is { } test
        ? new ImageBatchLoader(test.PixelLoader(batchSize, shuffle: false, 0, 1.0), Normalization)
        : null;

    /// <inheritdoc />
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);

    /// <inheritdoc />
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => ClassificationAccuracy.Of(model, data);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) Release();
    }

    private void Release()
    {
        if (_splits is { } splits) Dispose(splits);
        _splits = null;
        _normalization = null;
    }

    private static void Dispose(ImageSplits splits)
    {
        splits.Train.Dispose();
        if (!ReferenceEquals(splits.Validation, splits.Train)) splits.Validation.Dispose();
        splits.Test?.Dispose();
    }

    private InvalidOperationException NotConfigured() => new($"The task '{Name}' is not configured: call Configure first.");
}
