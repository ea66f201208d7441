using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Compression;

public sealed class ReplayTests
{
    private static readonly long[] Shape = [1, 1, 28, 28];

    /// <summary>FashionCnn shrunk (random channels), then conv2 and fc1 factorized and filled, then fc1's rank shrunk.</summary>
    private static (FashionCnn Model, ModelEditor Editor) CompressedFashionCnn()
    {
        torch.manual_seed(11);
        var model = new FashionCnn();
        EditorFixtures.RandomizeNorms(model);
        var editor = new ModelEditor(model, Shape);
        var random = new Random(12);
        editor.ShrinkChannels(new Dictionary<string, bool[]>
        {
            ["conv1"] = EditorFixtures.RandomFlags(32, 16, random),
            ["conv3"] = EditorFixtures.RandomFlags(128, 72, random),
        });
        var conv2 = editor.Factorize("conv2", 24);
        var fc1 = editor.Factorize("fc1", 40);
        using (torch.no_grad())
            foreach (var p in conv2.First.parameters().Concat(conv2.Second.parameters()).Concat(fc1.First.parameters()).Concat(fc1.Second.parameters()))
                p.normal_(0, 0.05);
        editor.ShrinkChannels(new Dictionary<string, bool[]> { ["fc1.0"] = EditorFixtures.RandomFlags(40, 16, random) });
        return (model, editor);
    }

    [Fact]
    public void Replaying_the_saved_edits_on_a_fresh_model_loads_the_compressed_weights_with_identical_outputs()
    {
        var (model, editor) = CompressedFashionCnn();
        using var _ = model;
        var json = ModelEdits.ToJson(editor.Edits);
        Assert.Contains("\"kind\": \"factorize\"", json);
        var edits = ModelEdits.FromJson(json);
        Assert.Equal(4, edits.Count);
        Assert.Equal(editor.Edits.Select(e => e.ToString()), edits.Select(e => e.ToString()));

        using var fresh = new FashionCnn();
        EditReplay.Apply(fresh, Shape, edits);
        fresh.load_state_dict(model.state_dict());

        torch.manual_seed(13);
        using var x = torch.randn(4, 1, 28, 28);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(fresh, x);
        Assert.Equal([4L, 10], actual.shape);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-6), $"max difference {(actual - expected).abs().max().item<float>()}");
        Assert.Equal(new ModelEditor(fresh, Shape).Cost, editor.Cost);
    }

    [Fact]
    public void The_inference_form_replays_its_folds_and_loads_to_identical_outputs()
    {
        var (model, editor) = CompressedFashionCnn();
        using var _ = model;
        model.eval();
        var report = Trainer.Core.Inference.InferenceForm.Apply(model, Shape,
            new Trainer.Core.Inference.InferenceFormOptions { Layout = Trainer.Core.Inference.MemoryLayout.Contiguous });
        var edits = ModelEdits.FromJson(ModelEdits.ToJson([.. editor.Edits, .. report.Edits]));
        Assert.Equal(["fold bn1 into conv1", "fold bn2 into conv2.1", "fold bn3 into conv3"], edits.Skip(4).Select(e => e.ToString()));

        using var fresh = new FashionCnn();
        EditReplay.Apply(fresh, Shape, edits);
        fresh.load_state_dict(model.state_dict());     // strict: the folded structure has exactly the inference form's tensors

        torch.manual_seed(15);
        using var x = torch.randn(4, 1, 28, 28);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(fresh, x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-6), $"max difference {(actual - expected).abs().max().item<float>()}");

        using var wrong = new FashionCnn();
        var e = Assert.Throws<ManifestMismatchException>(() => EditReplay.Apply(wrong, Shape, [new FoldBatchNormEdit("conv1", "fc1", true)]));
        Assert.Contains("'fc1' is not a BatchNorm2d", e.Message);
    }

    [Fact]
    public void A_copy_has_the_same_outputs_and_shares_no_tensor_with_its_source()
    {
        var (model, editor) = CompressedFashionCnn();
        using var _ = model;
        model.train();

        using var copy = ModelCopy.Create(() => new FashionCnn(), Shape, editor.Edits, model);

        Assert.True(copy.training);
        torch.manual_seed(14);
        using var x = torch.randn(3, 1, 28, 28);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(copy, x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-6));
        using (torch.no_grad())
            foreach (var p in copy.parameters()) p.zero_();
        using var after = EditorFixtures.Eval(model, x);
        Assert.True(after.equal(expected).all().item<bool>());
    }

    [Fact]
    public void An_edit_list_that_does_not_fit_names_the_edit_the_layer_and_the_mismatch()
    {
        ManifestMismatchException Fails(params ModelEdit[] edits)
        {
            using var fresh = new FashionCnn();
            return Assert.Throws<ManifestMismatchException>(() => EditReplay.Apply(fresh, Shape, edits));
        }

        var ok = new ShrinkEdit(new Dictionary<string, int> { ["conv1"] = 8 });
        var unknown = Fails(ok, new ShrinkEdit(new Dictionary<string, int> { ["conv9"] = 8 }));
        Assert.Equal((1, "conv9"), (unknown.EditIndex, unknown.Layer));
        Assert.StartsWith("edit 1 (shrink conv9→8) does not fit the model at 'conv9': the model has no such convolution or Linear producer; closest: conv1",
            unknown.Message);
        var tooMany = Fails(new ShrinkEdit(new Dictionary<string, int> { ["conv2"] = 100 }));
        Assert.Contains("edit 0 (shrink conv2→100) does not fit the model at 'conv2': the edit keeps 100 channels, the layer has 64", tooMany.Message);
        var rank = Fails(ok, ok, new FactorizeEdit("fc2", 11));
        Assert.Equal(2, rank.EditIndex);
        Assert.Contains("edit 2 (factorize fc2 rank 11) does not fit the model at 'fc2': rank 11 for 'fc2' is outside [1, 10]", rank.Message);
        var layer = Fails(new FactorizeEdit("fc1.0", 4));
        Assert.Contains("the model has no layer 'fc1.0'", layer.Message);
    }

    [Fact]
    public void A_malformed_edit_file_names_the_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"edits-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "[{\"kind\": \"prune\"}]");
            var e = Assert.Throws<FormatException>(() => ModelEdits.Load(path));
            Assert.Contains($"edit list '{path}' is not a valid edit list", e.Message);
            File.WriteAllText(path, "[{\"Layer\": \"fc1\", \"Rank\": 3}]");
            Assert.Contains("is not a valid edit list", Assert.Throws<FormatException>(() => ModelEdits.Load(path)).Message);
            File.WriteAllText(path, "[{\"kind\": \"factorize\", \"Rank\": 3}]");
            Assert.Contains("edit 0 has no Layer", Assert.Throws<FormatException>(() => ModelEdits.Load(path)).Message);
            ModelEdits.Save(path, [new FactorizeEdit("fc1", 3)]);
            Assert.Equal(new FactorizeEdit("fc1", 3), Assert.Single(ModelEdits.Load(path)));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
